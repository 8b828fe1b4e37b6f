import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Store } from "./lib/store";
import type { Me } from "./lib/types";

export interface Session {
  me: Me;
  db: Store;
  online: boolean;
  /** Something changed in the outbox (a post queued or sent): sync and recount. */
  outboxChanged(): void;
  outboxCount: number;
  /** Say something to the user in the shell's status line. */
  notify(message: string): void;
  sessionEnded(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside the signed-in shell");
  return session;
}
