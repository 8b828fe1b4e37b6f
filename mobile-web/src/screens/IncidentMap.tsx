// The planner's map of one incident (a chunk of its own: Incidents.tsx imports it when the map is
// opened). Leaflet draws the municipality's outline, the incident's area and one marker per
// person, coloured by tier, as SVG. No tile server can be reached from where Renraku runs, so
// there is no background map unless TILE_URL is set.
import * as L from "leaflet";
import "leaflet/dist/leaflet.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { t, type MessageKey } from "../i18n";
import { gql } from "../lib/api";
import { INCIDENT_MAP, parseGeometry, TIERS, type PriorityEntry, type Tier } from "../lib/incidents";

/** An optional tile server ("https://tiles.example/{z}/{x}/{y}.png"); off: none can be reached,
 *  and the Content-Security-Policy allows images from this server only. */
export const TILE_URL: string | null = null;
export const TILE_ATTRIBUTION = "";

// The tier colours, each with at least 3:1 against white (WCAG's non-text contrast).
const TIER_COLOURS: Record<Tier, string> = { P1: "#a4161a", P2: "#9a4d00", P3: "#0b5c6b", RESOLVED: "#5a6570" };

interface Geometry {
  id: string;
  area: string | null;
  municipalityOutline: string | null;
}

export function IncidentMap({ incidentId, entries }: { incidentId: string; entries: PriorityEntry[] }) {
  const box = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const markers = useRef<L.FeatureGroup | null>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!box.current) return;
    const created = L.map(box.current, { zoomControl: true, attributionControl: Boolean(TILE_URL) });
    map.current = created;
    if (TILE_URL) L.tileLayer(TILE_URL, { attribution: TILE_ATTRIBUTION, maxZoom: 18 }).addTo(created);
    created.setView([35, 137], 11); // until the shapes come
    markers.current = L.featureGroup().addTo(created);
    let cancelled = false;
    gql<{ incidents: Geometry[] }>(INCIDENT_MAP)
      .then(({ incidents }) => {
        if (cancelled) return;
        const found = incidents.find((i) => i.id === incidentId);
        const outline = parseGeometry(found?.municipalityOutline);
        const area = parseGeometry(found?.area);
        let bounds: L.LatLngBounds | null = null;
        if (outline) {
          const layer = L.geoJSON(outline, {
            interactive: false,
            style: { color: "#4a5560", weight: 2, dashArray: "6 4", fill: false, className: "map-outline" },
          }).addTo(created);
          bounds = layer.getBounds();
        }
        // No area: the whole municipality.
        const areaShape = area ?? outline;
        if (areaShape) {
          const layer = L.geoJSON(areaShape, {
            interactive: false,
            style: { color: "#a4161a", weight: 2, fillColor: "#a4161a", fillOpacity: 0.12, className: "map-area" },
          }).addTo(created);
          bounds = layer.getBounds().isValid() ? layer.getBounds() : bounds;
        }
        markers.current?.bringToFront(); // above the shapes
        if (bounds?.isValid()) created.fitBounds(bounds, { padding: [12, 12] });
      })
      .catch(() => !cancelled && setFailed(true));
    return () => {
      cancelled = true;
      created.remove();
      map.current = null;
    };
  }, [incidentId]);

  // The markers follow the list's refreshes.
  useEffect(() => {
    const group = markers.current;
    if (!group) return;
    group.clearLayers();
    for (const entry of entries) {
      const where = entry.person.location;
      if (!where) continue;
      L.circleMarker([where.latitude, where.longitude], {
        radius: entry.tier === "P1" ? 10 : 8,
        color: "#ffffff",
        weight: 2,
        fillColor: TIER_COLOURS[entry.tier],
        fillOpacity: 1,
        className: `map-marker marker-${entry.tier.toLowerCase()}`,
      })
        .bindTooltip(`${t(`tier.${entry.tier}` as MessageKey)} ${entry.person.displayName}`)
        .addTo(group);
    }
  }, [entries]);

  const unplaced = entries.filter((e) => !e.person.location).length;
  return (
    <div class="map-view">
      {failed && <p class="error">{t("map.failed")}</p>}
      <div ref={box} class="incident-map" role="region" aria-label={t("map.label")} />
      <p class="note">{t("map.noTiles")}</p>
      <ul class="legend" aria-label={t("map.legend")}>
        <li>
          <span class="swatch outline" aria-hidden="true" /> {t("map.outline")}
        </li>
        <li>
          <span class="swatch area" aria-hidden="true" /> {t("map.area")}
        </li>
        {TIERS.map((tier) => (
          <li key={tier}>
            <span class={`swatch dot dot-${tier.toLowerCase()}`} aria-hidden="true" />{" "}
            {t(`tierLong.${tier}` as MessageKey)}
          </li>
        ))}
      </ul>
      {unplaced > 0 && <p class="note">{t("map.noLocation", { count: unplaced })}</p>}
    </div>
  );
}
