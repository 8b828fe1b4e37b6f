import { formatNumber, t, type MessageKey } from "../i18n";
import type { PostRow, VitalName } from "../lib/types";

const MEASURES: VitalName[] = ["temperature", "systolic", "diastolic", "pulse", "spo2", "respiration", "weight", "bloodGlucose", "pain"];
const WIDTH = 120;
const HEIGHT = 36;
const PAD = 4;

/** One small line per measure with at least two values among the posts shown, oldest to newest;
 *  points out of the usual range (the server's flags) are drawn in the urgent colour. */
export function Trends({ posts }: { posts: PostRow[] }) {
  const chronological = posts
    .flatMap((p) => [p, ...(p.replies ?? [])])
    .filter((p) => p.vitals && !p.retractedAt).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const series = MEASURES.map((name) => ({
    name,
    points: chronological
      .filter((p) => p.vitals?.[name] != null)
      .map((p) => ({ value: p.vitals![name]!, flagged: (p.vitals!.flagged ?? []).includes(name) })),
  })).filter((s) => s.points.length >= 2);
  if (!series.length) return null;
  return (
    <section class="trends" aria-label={t("vitals.trends")}>
      {series.map(({ name, points }) => {
        const values = points.map((p) => p.value);
        const low = Math.min(...values);
        const high = Math.max(...values);
        const x = (i: number) => PAD + (i * (WIDTH - 2 * PAD)) / (points.length - 1);
        const y = (v: number) => (high === low ? HEIGHT / 2 : HEIGHT - PAD - ((v - low) * (HEIGHT - 2 * PAD)) / (high - low));
        const label = t("vitals.trend", {
          name: t(`vitals.${name}` as MessageKey),
          values: values.map((v) => formatNumber(v)).join(" → "),
        });
        const last = points[points.length - 1];
        return (
          <figure class="trend" key={name}>
            <figcaption>
              {t(`vitals.${name}` as MessageKey)} <strong class={last.flagged ? "flag" : ""}>{formatNumber(last.value)}</strong>
            </figcaption>
            <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} role="img" aria-label={label}>
              <polyline class="trend-line" points={points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ")} />
              {points.map((p, i) => (
                <circle key={i} class={p.flagged ? "trend-dot flagged" : "trend-dot"} cx={x(i)} cy={y(p.value)} r={2.5} />
              ))}
            </svg>
          </figure>
        );
      })}
    </section>
  );
}
