// The idle lock. Phones are shared at a care office: after a spell without a touch or a key the
// app locks, shows nothing it holds, and asks for the user's credentials again; the outbox keeps
// syncing behind the lock. The lock outlives a reload (its flag and the last activity are kept in
// localStorage: times, never data). Unlocking checks the password with the server, so it needs
// the network; nothing on the phone could check it offline.

const IDLE_KEY = "renraku.idleMinutes"; // per phone; a care office can set a shorter one
const ACTIVE_KEY = "renraku.lastActive";
const LOCKED_KEY = "renraku.locked";
export const DEFAULT_IDLE_MINUTES = 5;

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export function idleMs(): number {
  const minutes = Number(storage()?.getItem(IDLE_KEY));
  return (Number.isFinite(minutes) && minutes > 0 ? minutes : DEFAULT_IDLE_MINUTES) * 60_000;
}

export function markActive(now = Date.now()): void {
  storage()?.setItem(ACTIVE_KEY, String(now));
}

/** Locked: by the flag, or because the last activity is older than the idle time. */
export function shouldLock(now = Date.now()): boolean {
  const store = storage();
  if (!store) return false;
  if (store.getItem(LOCKED_KEY) === "1") return true;
  const last = Number(store.getItem(ACTIVE_KEY));
  return last > 0 && now - last > idleMs();
}

export function setLocked(locked: boolean): void {
  const store = storage();
  if (!store) return;
  if (locked) store.setItem(LOCKED_KEY, "1");
  else {
    store.removeItem(LOCKED_KEY);
    markActive();
  }
}

/** Forget the lock's times (signing out). */
export function clearIdle(): void {
  storage()?.removeItem(LOCKED_KEY);
  storage()?.removeItem(ACTIVE_KEY);
}
