// Live updates over graphql-transport-ws on /graphql. The session cookie rides the same-origin
// WebSocket handshake, so connection_init carries nothing. graphql-ws's own retry would
// resubscribe with the variables of the first subscribe (missing what came in between), so it is
// off: each subscription here resubscribes itself from the last cursor it saw.
import { createClient, type Client } from "graphql-ws";
import type { PostRow } from "./types";

export interface FeedEvent {
  cursor: string;
  kind: string;
  patientId: string;
  post: PostRow | null;
}

let client: Client | null = null;

function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}/graphql`;
}

function liveClient(): Client {
  client ??= createClient({ url: socketUrl(), lazy: true, retryAttempts: 0 });
  return client;
}

/** Close the socket (signing out: the server also closes it with 4401). */
export function closeLive(): void {
  Promise.resolve(client?.dispose()).catch(() => undefined); // already closed: nothing to do
  client = null;
}

const SESSION_ENDED = 4401;

export interface LiveHandlers {
  onEvent(event: FeedEvent): void;
  onState(live: boolean): void;
  onSessionEnded(): void;
  onLostAccess(): void;
  /** Subscribed again after a break with no cursor to resume from: reload what may be missed. */
  onResumed(): void;
}

/** Subscribe to `query` (with `$after` for the cursor) until the returned function is called. */
export function subscribeFrom(query: string, variables: Record<string, unknown>, handlers: LiveHandlers): () => void {
  let cursor: string | null = (variables.after as string | null) ?? null;
  let stop: (() => void) | null = null;
  let stopped = false;
  let delay = 1_000;
  let timer: ReturnType<typeof setTimeout> | undefined;

  let restarts = 0;
  const start = () => {
    if (stopped) return;
    if (restarts++ > 0 && cursor === null) handlers.onResumed();
    stop = liveClient().subscribe<{ event: FeedEvent }>(
      { query, variables: { ...variables, after: cursor } },
      {
        next(result) {
          const event = result.data?.event;
          if (!event) return;
          delay = 1_000;
          handlers.onState(true);
          cursor = event.cursor;
          handlers.onEvent(event);
        },
        error(error) {
          handlers.onState(false);
          if (isClose(error) && error.code === SESSION_ENDED) return handlers.onSessionEnded();
          if (Array.isArray(error)) {
            // A GraphQL error on the subscription: access to this patient is gone.
            const codes = error.map((e: { extensions?: { code?: string } }) => e.extensions?.code);
            if (codes.includes("NOT_FOUND") || codes.includes("FORBIDDEN")) return handlers.onLostAccess();
            if (codes.includes("UNAUTHENTICATED")) return handlers.onSessionEnded();
          }
          client = null; // the socket is gone: the next subscribe opens another
          timer = setTimeout(() => {
            timer = undefined;
            start();
          }, delay);
          delay = Math.min(delay * 2, 30_000);
        },
        complete() {
          handlers.onState(false);
        },
      },
    );
    handlers.onState(true);
  };
  // Back online: try at once rather than at the end of the current pause.
  const online = () => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    delay = 1_000;
    start();
  };
  addEventListener("online", online);
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    removeEventListener("online", online);
    stop?.();
  };
}

function isClose(error: unknown): error is CloseEvent {
  return typeof error === "object" && error !== null && "code" in error && typeof (error as CloseEvent).code === "number";
}

const INCIDENT_UPDATES = `subscription($incidentId: ID!) {
  incidentUpdates(incidentId: $incidentId) { incidentId kind patientId at }
}`;

/** Follow one incident's changes (incidentUpdates: ids and kinds only) until the returned
 *  function is called; `changed` runs for each, and after every reconnection (what came in
 *  between is not replayed). Refused or ended, it stops: the screen's own refresh shows why. */
export function watchIncident(incidentId: string, changed: () => void): () => void {
  let stop: (() => void) | null = null;
  let stopped = false;
  let delay = 1_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let starts = 0;
  const start = () => {
    if (stopped) return;
    if (starts++ > 0) changed();
    stop = liveClient().subscribe<{ incidentUpdates: { kind: string } }>(
      { query: INCIDENT_UPDATES, variables: { incidentId } },
      {
        next(result) {
          if (!result.data?.incidentUpdates) return;
          delay = 1_000;
          changed();
        },
        error(error) {
          if (Array.isArray(error) || (isClose(error) && error.code === SESSION_ENDED)) return;
          client = null;
          timer = setTimeout(() => {
            timer = undefined;
            start();
          }, delay);
          delay = Math.min(delay * 2, 30_000);
        },
        complete() {
          changed(); // ended, or the list is no longer ours
        },
      },
    );
  };
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    stop?.();
  };
}
