/**
 * A rough estimate of how many bits of randomness a secret holds: its length times the Shannon entropy
 * of its own characters. `aaaaaaaaaaaaaaaa` holds 0, sixteen different characters 64, the 64 characters
 * of `openssl rand -hex 32` about 240. It under-counts short random strings, which errs on the safe side.
 */
export function estimatedTokenBits(token: string): number {
  const characters = [...token];
  if (characters.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const character of characters) counts.set(character, (counts.get(character) ?? 0) + 1);
  let bitsPerCharacter = 0;
  for (const count of counts.values()) {
    const share = count / characters.length;
    bitsPerCharacter -= share * Math.log2(share);
  }
  return bitsPerCharacter * characters.length;
}

/** What a console token must hold, at least, by `estimatedTokenBits`. */
export const minimumTokenBits = 64;
