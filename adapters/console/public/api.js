// JSON calls to the console's API; the session cookie (when a token is set) rides along same-origin.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** GET without a body, POST (or `method`) with a JSON body; resolves to the parsed reply or throws ApiError. */
export async function api(path, body, method = 'POST') {
  const init =
    body === undefined
      ? { headers: { accept: 'application/json' } }
      : {
          method,
          headers: { accept: 'application/json', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        };
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError('The console server cannot be reached.', 0);
  }
  const reply = await response.json().catch(() => ({}));
  if (!response.ok)
    throw new ApiError(reply.error ?? `Request failed (${response.status}).`, response.status);
  return reply;
}
