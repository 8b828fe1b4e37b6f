// Talking to the server: /auth for the session cookie, /graphql over HTTP for queries and
// mutations. The session is an HttpOnly cookie the browser sends by itself; no token is ever
// read or stored here.
import { SET_SAFETY_STATUS } from "./incidents";
import type { AnyOutboxEntry, OutboxEntry, OutboxPhoto, SafetyOutboxEntry, SendResult } from "./outbox";
import type { CreatePostInput, Me } from "./types";

export const SESSION_ENDED_EVENT = "renraku:session-ended";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly field: string | null = null,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** The network could not be reached (offline, or the server is down). */
export class OfflineError extends Error {}

async function request(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, { credentials: "same-origin", ...init });
  } catch {
    throw new OfflineError("offline");
  }
}

interface AuthErrorBody {
  error?: { message?: string; code?: string; field?: string; retryAfter?: number };
}

export async function signIn(username: string, password: string, otp: string | null): Promise<Me> {
  const response = await request("/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(otp === null ? { username, password } : { username, password, otp }),
  });
  const body = (await response.json().catch(() => ({}))) as AuthErrorBody & { user?: Me };
  if (response.ok && body.user) return body.user;
  const error = body.error ?? {};
  throw new ApiError(
    error.message ?? response.statusText,
    error.code ?? (response.status === 401 ? "UNAUTHENTICATED" : "ERROR"),
    error.field ?? null,
    error.retryAfter ?? (Number(response.headers.get("retry-after")) || null),
  );
}

export async function signOut(): Promise<void> {
  await request("/auth/logout", { method: "POST" });
}

/** The signed-in user, or null when signed out. Throws OfflineError without network. */
export async function whoAmI(): Promise<Me | null> {
  const response = await request("/auth/me", { method: "GET" });
  if (response.status === 401) return null;
  if (!response.ok) throw new ApiError(response.statusText, "ERROR");
  return ((await response.json()) as { user: Me }).user;
}

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string };
}

/** Run a query or mutation; throws ApiError for the first GraphQL error unless `partial`
 *  (then the data comes back with its errors, for fields that may be null with FORBIDDEN). */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const { data, errors } = await gqlPartial<T>(query, variables);
  if (errors.length) {
    const first = errors[0];
    throw new ApiError(first.message, first.extensions?.code ?? "ERROR", first.extensions?.field ?? null);
  }
  return data as T;
}

export async function gqlPartial<T>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data: T | null; errors: GraphQLError[] }> {
  const response = await request("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status >= 500) throw new ApiError(response.statusText, "SERVER_ERROR");
  const body = (await response.json().catch(() => null)) as { data?: T; errors?: GraphQLError[] } | null;
  if (body === null) throw new ApiError(response.statusText, response.status >= 400 ? "BAD_REQUEST" : "ERROR");
  const errors = body.errors ?? [];
  // The session ended (expired, revoked, signed out elsewhere): the shell asks to sign in again.
  if (errors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) dispatchEvent(new Event(SESSION_ENDED_EVENT));
  return { data: body.data ?? null, errors };
}

const CREATE_POST = `mutation($input: CreatePostInput!) { createPost(input: $input) { id } }`;

// Refusals keep the post for editing; anything else is worth another try later.
const REFUSED = new Set(["BAD_USER_INPUT", "FORBIDDEN", "NOT_FOUND", "BAD_REQUEST"]);

/** Upload one photo (POST /uploads, multipart, field `file`); its upload id. */
export async function uploadPhoto(photo: OutboxPhoto): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([photo.data], { type: photo.type }), "photo");
  const response = await request("/uploads", { method: "POST", body: form });
  const body = (await response.json().catch(() => ({}))) as AuthErrorBody & { id?: string };
  if (response.ok && body.id) return body.id;
  // 413 (too large), 415 (not an image), 400, 403, 404: refused, kept for the user to see;
  // 401 (the session ended), 429 and 5xx: worth another try later.
  const retry = response.status === 401 || response.status === 429 || response.status >= 500;
  throw new ApiError(body.error?.message ?? response.statusText, retry ? "SERVER_ERROR" : "BAD_REQUEST");
}

/** The outbox's sender: its photos uploaded (each once), then createPost over HTTP, the outcome
 *  sorted into sent/offline/failed/refused. */
export async function sendPost(
  entry: OutboxEntry,
  progress: (entry: AnyOutboxEntry) => Promise<void>,
): Promise<SendResult> {
  if (typeof navigator !== "undefined" && navigator.onLine === false) return { outcome: "offline" };
  try {
    const photos = [...(entry.photos ?? [])];
    for (let i = 0; i < photos.length; i++) {
      if (photos[i].uploadId) continue;
      const uploadId = await uploadPhoto(photos[i]);
      photos[i] = { ...photos[i], uploadId };
      await progress({ ...entry, photos: [...photos] });
    }
    const input: CreatePostInput = { ...entry.input, uploadIds: photos.map((p) => p.uploadId!) };
    const data = await gql<{ createPost: { id: string } }>(CREATE_POST, { input });
    return { outcome: "sent", postId: data.createPost.id };
  } catch (error) {
    if (error instanceof OfflineError) return { outcome: "offline" };
    if (error instanceof ApiError && REFUSED.has(error.code)) return { outcome: "refused", reason: error.message };
    return { outcome: "failed", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The outbox's sender for a safety status: setSafetyStatus with the entry's clientId, so a send
 *  retried after a lost answer changes nothing on the server. */
export async function sendSafety(entry: SafetyOutboxEntry): Promise<SendResult> {
  if (typeof navigator !== "undefined" && navigator.onLine === false) return { outcome: "offline" };
  try {
    await gql(SET_SAFETY_STATUS, { input: entry.input });
    return { outcome: "sent" };
  } catch (error) {
    if (error instanceof OfflineError) return { outcome: "offline" };
    if (error instanceof ApiError && REFUSED.has(error.code)) return { outcome: "refused", reason: error.message };
    return { outcome: "failed", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The outbox's sender: each kind of entry by its own mutation. */
export function sendEntry(entry: AnyOutboxEntry, progress: (entry: AnyOutboxEntry) => Promise<void>): Promise<SendResult> {
  return entry.kind === "safety" ? sendSafety(entry) : sendPost(entry, progress);
}
