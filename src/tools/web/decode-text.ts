/** Decodes a body in its charset; UTF-8 when the charset is absent or unknown. */
export function decodeText(body: Uint8Array, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    // An unknown charset label: UTF-8 is the likeliest truth on today's web.
    return new TextDecoder('utf-8').decode(body);
  }
}
