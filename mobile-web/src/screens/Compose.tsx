import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { t, word, type MessageKey } from "../i18n";
import { fetchTeam, keptTeam, mentionable, type TeamMember } from "../lib/mentions";
import { enqueue } from "../lib/outbox";
import { preparePhoto, type PreparedPhoto } from "../lib/photos";
import { navigate } from "../lib/router";
import { CATEGORIES, type Category, type VitalName } from "../lib/types";
import { checkVital, keptSigns, loadSigns, type VitalCheck, type VitalSign } from "../lib/vitals";

const VITALS: { name: VitalName; inputMode: "decimal" | "numeric" }[] = [
  { name: "temperature", inputMode: "decimal" },
  { name: "systolic", inputMode: "numeric" },
  { name: "diastolic", inputMode: "numeric" },
  { name: "pulse", inputMode: "numeric" },
  { name: "spo2", inputMode: "numeric" },
  { name: "respiration", inputMode: "numeric" },
  { name: "weight", inputMode: "decimal" },
  { name: "bloodGlucose", inputMode: "numeric" },
  { name: "pain", inputMode: "numeric" },
];

// Every post goes through the outbox, online or not: one path, and a post written in a dead spot
// is never lost. The outbox sends it at once when the network is there.
export function Compose({ patientId, replyTo }: { patientId: string; replyTo: string | null }) {
  const { db, me, outboxChanged, notify } = useSession();
  const [category, setCategory] = useState<Category>("VISIT_REPORT");
  const [body, setBody] = useState("");
  const [vitals, setVitals] = useState<Partial<Record<VitalName, string>>>({});
  const [urgent, setUrgent] = useState(false);
  const [family, setFamily] = useState(false);
  const [error, setError] = useState("");
  const [photos, setPhotos] = useState<{ photo: PreparedPhoto; preview: string }[]>([]);
  const [signs, setSigns] = useState<Map<VitalName, VitalSign>>(keptSigns);
  useEffect(() => () => photos.forEach((p) => URL.revokeObjectURL(p.preview)), []);
  useEffect(() => {
    void loadSigns().then(setSigns);
  }, []);
  // Whom the post may mention: the team kept on the phone first, the server's answer next.
  const [team, setTeam] = useState<TeamMember[] | null>(null);
  const [mentioned, setMentioned] = useState<Set<string>>(new Set());
  useEffect(() => {
    let current = true;
    void (async () => {
      const kept = await keptTeam(db, patientId);
      if (current && kept) setTeam(kept);
      const fresh = await fetchTeam(db, patientId);
      if (current && fresh) setTeam(fresh);
    })();
    return () => {
      current = false;
    };
  }, [db, patientId]);
  // Only those who can read the post as it is set now (unticking "family" drops family).
  const candidates = team === null ? [] : mentionable(team, { visibleToFamily: family, me: me.username });
  const chosen = candidates.filter((m) => mentioned.has(m.user.id));

  const addPhotos = async (files: FileList | null) => {
    if (!files) return;
    const added: { photo: PreparedPhoto; preview: string }[] = [];
    for (const file of Array.from(files)) {
      const photo = await preparePhoto(file);
      added.push({ photo, preview: URL.createObjectURL(new Blob([photo.data], { type: photo.type })) });
    }
    setPhotos((current) => [...current, ...added]);
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const values: Partial<Record<VitalName, number>> = {};
    for (const { name } of VITALS) {
      const check = checkVital(signs.get(name), vitals[name] ?? "");
      if (check.state === "empty") continue;
      if (check.state !== "ok" && check.state !== "unusual") {
        return setError(t("compose.invalid", { field: t(`vitals.${name}` as MessageKey) }));
      }
      values[name] = check.value;
    }
    const hasVitals = Object.keys(values).length > 0;
    if (!body.trim() && !hasVitals && !photos.length) return setError(t("compose.empty"));
    await enqueue(
      db,
      {
        patientId,
        category,
        body: body.trim(),
        vitals: hasVitals ? values : null,
        urgent,
        visibleToFamily: family,
        replyTo,
      },
      new Date(),
      photos.map((p) => p.photo),
      chosen.map((m) => ({ id: m.user.id, displayName: m.user.displayName })),
    );
    notify(t("compose.queued"));
    outboxChanged();
    navigate({ name: "timeline", patientId }, true);
  };

  return (
    <form class="stack" onSubmit={submit}>
      <h1>{t(replyTo ? "compose.replyTitle" : "compose.title")}</h1>
      <label class="field">
        <span>{t("category.label")}</span>
        <select name="category" value={category} onChange={(e) => setCategory(e.currentTarget.value as Category)}>
          {CATEGORIES.map((c) => (
            <option key={c} value={c}>
              {t(`category.${c}` as MessageKey)}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t("compose.body")}</span>
        <textarea name="body" rows={5} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
      </label>
      <fieldset class="vitals-form">
        <legend>{t("vitals.title")}</legend>
        {VITALS.map(({ name, inputMode }) => {
          const sign = signs.get(name);
          const check = checkVital(sign, vitals[name] ?? "");
          const note = vitalNote(sign, check);
          const refused = check.state === "outside" || check.state === "notWhole" || check.state === "notNumber";
          return (
            <div class="field" key={name}>
              <label for={`vital-${name}`}>
                {t(`vitals.${name}` as MessageKey)}
                {sign && <span class="unit"> ({sign.unit})</span>}
              </label>
              <input
                id={`vital-${name}`}
                name={name}
                type="text"
                inputMode={inputMode}
                value={vitals[name] ?? ""}
                aria-invalid={refused}
                aria-describedby={note ? `vital-${name}-note` : undefined}
                onInput={(e) => setVitals({ ...vitals, [name]: e.currentTarget.value })}
              />
              {note && (
                <span id={`vital-${name}-note`} class={refused ? "note refused" : "note unusual"} role="status">
                  {note}
                </span>
              )}
            </div>
          );
        })}
      </fieldset>
      <fieldset class="photos-form">
        <legend>{t("compose.photos")}</legend>
        {photos.length > 0 && (
          <ul class="thumbs">
            {photos.map((p, i) => (
              <li key={p.preview}>
                <img src={p.preview} alt={t("compose.photoAlt", { n: i + 1 })} width={88} height={88} />
                <button
                  type="button"
                  aria-label={t("compose.removePhoto", { n: i + 1 })}
                  onClick={() => {
                    URL.revokeObjectURL(p.preview);
                    setPhotos(photos.filter((other) => other !== p));
                  }}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        <label class="file">
          <span>{t("compose.addPhoto")}</span>
          <input
            type="file"
            name="photos"
            accept="image/*"
            capture="environment"
            multiple
            onChange={(e) => {
              void addPhotos(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
        </label>
      </fieldset>
      <label class="check">
        <input type="checkbox" name="urgent" checked={urgent} onChange={(e) => setUrgent(e.currentTarget.checked)} />
        <span>{t("compose.urgent")}</span>
      </label>
      <label class="check">
        <input type="checkbox" name="visibleToFamily" checked={family} onChange={(e) => setFamily(e.currentTarget.checked)} />
        <span>{t("compose.family")}</span>
      </label>
      <fieldset class="mentions-form" aria-describedby="mentions-help">
        <legend>{t("compose.mentions")}</legend>
        <p id="mentions-help" class="note">
          {t(team === null ? "compose.mentionsNone" : "compose.mentionsHelp")}
        </p>
        {candidates.map((m) => (
          <label class="check" key={m.user.id}>
            <input
              type="checkbox"
              name="mention"
              value={m.user.id}
              checked={mentioned.has(m.user.id)}
              onChange={(e) => {
                const next = new Set(mentioned);
                if (e.currentTarget.checked) next.add(m.user.id);
                else next.delete(m.user.id);
                setMentioned(next);
              }}
            />
            <span>
              {m.user.displayName}
              <span class="sub">
                {" "}
                ({m.user.profession ? word("profession", m.user.profession) : word("role", m.role)})
              </span>
            </span>
          </label>
        ))}
      </fieldset>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary">
          {t("compose.send")}
        </button>
        <button type="button" onClick={() => navigate({ name: "timeline", patientId }, true)}>
          {t("compose.cancel")}
        </button>
      </div>
    </form>
  );
}

// What the form says under a vital as it is typed: what the server would refuse, and what it
// would keep but flag.
function vitalNote(sign: VitalSign | undefined, check: VitalCheck): string {
  switch (check.state) {
    case "notNumber":
      return t("vitals.notNumber");
    case "notWhole":
      return t("vitals.notWhole");
    case "outside":
      return sign ? t("vitals.outside", { min: sign.min, max: sign.max, unit: sign.unit }) : "";
    case "unusual":
      return sign && sign.usualLow !== null && sign.usualHigh !== null
        ? t("vitals.unusual", { low: sign.usualLow, high: sign.usualHigh, unit: sign.unit })
        : "";
    default:
      return "";
  }
}
