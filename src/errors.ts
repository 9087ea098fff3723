// One error type and one catalog. Every error a client can see is made here, so the codes in
// docs/API.md and the codes the server sends are the same list. Anything that is not an
// AppError becomes 500 internal_error, and its message and stack never leave the server.

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    // A client error is an expected answer, not a fault: its stack is never shown or logged,
    // and capturing one costs more than the rest of a refused request (a 429 flood, say).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Echoes client input in a message, shortened: an error must not repeat a 64 KiB body. */
function quote(s: string): string {
  const chars = [...s];
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : s);
}

/** A window in words: "per hour", "per 2 hours", "per 90 seconds". */
function perWindow(windowS: number): string {
  if (windowS % 3600 === 0) return windowS === 3600 ? 'per hour' : `per ${windowS / 3600} hours`;
  if (windowS % 60 === 0) return windowS === 60 ? 'per minute' : `per ${windowS / 60} minutes`;
  return windowS === 1 ? 'per second' : `per ${windowS} seconds`;
}

export const Errors = {
  /** 400: the message always names the field, so a client author can fix the call. */
  invalidRequest: (field: string, problem: string) => new AppError(400, 'invalid_request', `${field}: ${problem}`),
  invalidJson: (detail = 'the request body is not valid JSON') => new AppError(400, 'invalid_json', detail),
  invalidCursor: (detail = 'the cursor is malformed or ahead of the event stream; resynchronise from history') =>
    new AppError(400, 'invalid_cursor', detail),
  unauthorized: (detail = 'a valid access token is required') =>
    new AppError(401, 'unauthorized', detail, { 'WWW-Authenticate': 'Bearer realm="chat"' }),
  /** 401 for a device logged out or revoked while its request was under way (a held poll, a send). */
  deviceEnded: () =>
    new AppError(401, 'unauthorized', 'this device was logged out or revoked', { 'WWW-Authenticate': 'Bearer realm="chat"' }),
  invalidCredentials: () => new AppError(401, 'invalid_credentials', 'wrong username or password'),
  forbidden: (detail: string) => new AppError(403, 'forbidden', detail),
  notFound: (what = 'no such resource') => new AppError(404, 'not_found', what),
  userNotFound: (username: string) => new AppError(404, 'user_not_found', `no user named ${quote(username)}`),
  methodNotAllowed: (allow: readonly string[]) =>
    new AppError(405, 'method_not_allowed', `method not allowed here; allowed: ${allow.join(', ')}`, {
      Allow: allow.join(', '),
    }),
  usernameTaken: () => new AppError(409, 'username_taken', 'that username is taken'),
  clientIdReused: () =>
    new AppError(409, 'client_id_reused', 'client_id was already used for a different message (another "to", "group" or "body")'),
  /** 409: a group has GROUP_MEMBERS_MAX members (issue #15). */
  groupFull: (max: number) => new AppError(409, 'group_full', `a group has at most ${max} members`),
  /** 409: that user is a member of GROUPS_PER_USER_MAX groups already (issue #15). */
  userInMaxGroups: (username: string, max: number) =>
    new AppError(409, 'group_full', `${username} is already in ${max} groups, the most a user may be in (GROUPS_PER_USER_MAX)`),
  /** 408: the request (headers and body) did not arrive within the server's deadline. */
  requestTimeout: () => new AppError(408, 'request_timeout', 'the request was not received in time'),
  /** 431: Node's HTTP parser refuses a request line and headers over its limit (16 KiB). */
  headersTooLarge: () => new AppError(431, 'headers_too_large', 'the request line and headers are larger than the server accepts (16 KiB)'),
  /** 417: an Expect header other than 100-continue (the one expectation HTTP/1.1 defines). */
  expectationFailed: () => new AppError(417, 'expectation_failed', 'the only Expect this server meets is 100-continue'),
  payloadTooLarge: (limitBytes: number) => new AppError(413, 'payload_too_large', `the request body is larger than ${limitBytes} bytes`),
  rateLimited: (retryAfterS: number) =>
    new AppError(429, 'rate_limited', `too many requests; retry in ${retryAfterS} s`, {
      'Retry-After': String(retryAfterS),
    }),
  /** 429 for a new group: the user made RATE_GROUPS_USER groups within its window already (issue #15). */
  tooManyGroups: (points: number, windowS: number, retryAfterS: number) =>
    new AppError(429, 'rate_limited', `you may create at most ${points} groups ${perWindow(windowS)}; retry in ${retryAfterS} s`, {
      'Retry-After': String(retryAfterS),
    }),
  /** 429 for a poll: the user's devices together hold POLLS_PER_USER polls already. */
  tooManyPolls: (retryAfterS: number) =>
    new AppError(429, 'rate_limited', `your devices hold as many polls as one account may; retry in ${retryAfterS} s`, {
      'Retry-After': String(retryAfterS),
    }),
  overloaded: (retryAfterS: number) =>
    new AppError(503, 'overloaded', `the server holds as many polls as it may; retry in ${retryAfterS} s`, {
      'Retry-After': String(retryAfterS),
    }),
  /** 503 while the database cannot be reached (PostgreSQL restarted or down, #16): retry; a send with its client_id stays one message. */
  storeUnavailable: (retryAfterS: number) =>
    new AppError(503, 'overloaded', `the database cannot be reached now; retry in ${retryAfterS} s`, {
      'Retry-After': String(retryAfterS),
    }),
  internal: () => new AppError(500, 'internal_error', 'internal server error'),
} as const;

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
