// Screens that follow something changing on the server without a live subscription (the
// planner's priority list and safety board) re-fetch it: every REFRESH_MS while the page is
// visible, when the page comes back into view or focus, and whenever INCIDENT_CHANGED_EVENT is
// sent on window. That event is the push signal: the incident's live updates (lib/live.ts,
// watchIncident) send it, and the same refresh runs at once.
import { useEffect, useRef } from "preact/hooks";

export const INCIDENT_CHANGED_EVENT = "renraku:incident-changed";

export const REFRESH_MS = 20_000;

/** The refresh interval: REFRESH_MS, unless the browser tests set `renraku.test.refreshMs` in
 *  localStorage (a shorter wait for the board to follow a phone; README, "Phone app"). */
export function refreshInterval(): number {
  try {
    const set = Number(globalThis.localStorage?.getItem("renraku.test.refreshMs"));
    if (Number.isFinite(set) && set >= 200) return set;
  } catch {
    // storage disabled: the default
  }
  return REFRESH_MS;
}

/** Run `load` now, then on the schedule above; the latest `load` is always the one called. */
export function useRefresh(load: () => Promise<void> | void, deps: unknown[] = []): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let busy = false;
    const run = async () => {
      if (busy) return; // one at a time: a slow answer is not asked for twice
      busy = true;
      try {
        await latest.current();
      } finally {
        busy = false;
      }
    };
    void run();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void run();
    }, refreshInterval());
    const onVisible = () => document.visibilityState === "visible" && void run();
    const onSignal = () => void run();
    document.addEventListener("visibilitychange", onVisible);
    addEventListener("focus", onSignal);
    addEventListener(INCIDENT_CHANGED_EVENT, onSignal);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
      removeEventListener("focus", onSignal);
      removeEventListener(INCIDENT_CHANGED_EVENT, onSignal);
    };
  }, deps);
}
