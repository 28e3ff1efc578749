/** A refusal or failure of the Micro API, from its RFC 9457 problem details. */
export class MicroApiError extends Error {
  override readonly name = "MicroApiError";
  readonly status: number;
  /** The problem's `code` (e.g. `not_found`, `insufficient_scope`); `http_<status>` when the
   * answer was not a problem document. */
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  /** The whole problem document (field errors in `errors`), or the raw body. */
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    const text = (name: string, fallback: string) => (typeof problem[name] === "string" ? (problem[name] as string) : fallback);
    const detail = text("detail", typeof body === "string" ? body.slice(0, 500) : "");
    super(`${status} ${text("code", `http_${status}`)}: ${detail}`);
    this.status = status;
    this.code = text("code", `http_${status}`);
    this.title = text("title", "");
    this.detail = detail;
    this.body = body;
  }
}

export async function errorFromResponse(response: Response): Promise<MicroApiError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: keep the text
  }
  return new MicroApiError(response.status, body);
}
