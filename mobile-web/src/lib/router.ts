// Path routing with the History API: the server answers every client path with index.html.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "home" }
  | { name: "patients" }
  | { name: "timeline"; patientId: string }
  | { name: "compose"; patientId: string; replyTo?: string }
  | { name: "team"; patientId: string }
  | { name: "outbox" }
  | { name: "notices" }
  | { name: "feed" }
  | { name: "incident"; incidentId: string; view?: IncidentView }
  | { name: "safety" };

/** The planner's views of one incident. */
export type IncidentView = "list" | "board" | "map" | "print";
const VIEWS: readonly IncidentView[] = ["list", "board", "map", "print"];
// A view's last path segment under /incidents/ID (the list has none). The call sheet is "sheet":
// the server itself answers /incidents/ID/priority.csv and .geojson, never the app's views.
const SEGMENT: Record<IncidentView, string> = { list: "", board: "board", map: "map", print: "sheet" };

// The overlay's screens have plain paths: /incidents/ID (its list), /incidents/ID/board, /map and
// /sheet, and /safety. Links from before (/home?incident=ID&view=map, /home?view=safety) still
// open them: parse reads them, and useRoute replaces the address with the plain one.
export function parse(path: string): Route {
  const [pathname, search = ""] = path.split("?", 2);
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "home" && parts.length === 1 && search) {
    const query = new URLSearchParams(search);
    const incidentId = query.get("incident");
    const view = VIEWS.find((v) => v === query.get("view"));
    if (incidentId) return { name: "incident", incidentId, view: view ?? "list" };
    if (query.get("view") === "safety") return { name: "safety" };
  }
  if (parts[0] === "incidents" && parts[1] && parts.length <= 3) {
    const segment = parts[2] ?? "";
    const view = segment === "list" ? "list" : VIEWS.find((v) => SEGMENT[v] === segment);
    if (view) return { name: "incident", incidentId: parts[1], view };
  }
  if (parts[0] === "safety" && parts.length === 1) return { name: "safety" };
  if (parts[0] === "patients" && parts.length === 1) return { name: "patients" };
  if (parts[0] === "patients" && parts.length === 2) return { name: "timeline", patientId: parts[1] };
  if (parts[0] === "patients" && parts[2] === "new") return { name: "compose", patientId: parts[1] };
  if (parts[0] === "patients" && parts[2] === "reply" && parts[3]) {
    return { name: "compose", patientId: parts[1], replyTo: parts[3] };
  }
  if (parts[0] === "patients" && parts[2] === "team") return { name: "team", patientId: parts[1] };
  if (parts[0] === "outbox") return { name: "outbox" };
  if (parts[0] === "notices") return { name: "notices" };
  if (parts[0] === "feed") return { name: "feed" };
  return { name: "home" };
}

/** The plain address to put in place of `path` (an old /home?… link, /incidents/ID/list, or
 *  /incidents alone), or null when `path` is the route's own address already. */
export function redirectFor(path: string): string | null {
  const route = parse(path);
  const [pathname, search] = path.split("?", 2);
  if (route.name === "incident" || route.name === "safety") {
    const plain = href(route);
    return plain === pathname && !search ? null : plain;
  }
  if (pathname.replace(/\/+$/, "") === "/incidents") return "/";
  return null;
}

export function href(route: Route): string {
  switch (route.name) {
    case "home":
      return "/";
    case "patients":
      return "/patients";
    case "timeline":
      return `/patients/${encodeURIComponent(route.patientId)}`;
    case "compose":
      return route.replyTo
        ? `/patients/${encodeURIComponent(route.patientId)}/reply/${encodeURIComponent(route.replyTo)}`
        : `/patients/${encodeURIComponent(route.patientId)}/new`;
    case "team":
      return `/patients/${encodeURIComponent(route.patientId)}/team`;
    case "outbox":
      return "/outbox";
    case "notices":
      return "/notices";
    case "feed":
      return "/feed";
    case "incident": {
      const base = `/incidents/${encodeURIComponent(route.incidentId)}`;
      const segment = SEGMENT[route.view ?? "list"];
      return segment ? `${base}/${segment}` : base;
    }
    case "safety":
      return "/safety";
  }
}

export function navigate(route: Route, replace = false): void {
  const url = href(route);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  dispatchEvent(new PopStateEvent("popstate"));
}

/** The current route; an old or roundabout address is replaced by the plain one first. */
function current(): Route {
  const path = location.pathname + location.search;
  const plain = redirectFor(path);
  if (plain !== null) history.replaceState(null, "", plain + location.hash);
  return parse(path);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const onPop = () => setRoute(current());
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  return route;
}

/** A same-page link: plain <a href> for the browser, history navigation on click. */
export function onLinkClick(event: MouseEvent, route: Route): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(route);
}
