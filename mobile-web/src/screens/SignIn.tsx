import type { JSX } from "preact";
import { useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { ApiError, OfflineError, signIn } from "../lib/api";
import type { Me } from "../lib/types";

// DESIGN.md's contract: one form, the username its first input, then the password (the only
// password field); Enter submits. An account with TOTP gets a second step asking for the code.
// Locked (lib/idle.ts), the same form unlocks: the username fixed to the locked user's.
export function SignIn(props: {
  expired: boolean;
  languageSwitch: JSX.Element;
  onSignedIn(me: Me): void;
  lockedAs?: Me;
  onOtherUser?: () => void;
}) {
  const locked = props.lockedAs;
  const [username, setUsername] = useState(locked?.username ?? "");
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState<string | null>(null); // null: first step
  const [error, setError] = useState(props.expired ? t("signIn.expired") : "");
  const [busy, setBusy] = useState(false);
  const otpInput = useRef<HTMLInputElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError("");
    try {
      props.onSignedIn(await signIn(username.trim(), password, otp));
    } catch (caught) {
      setError(caught instanceof OfflineError && locked ? t("lock.offline") : describe(caught, otp !== null));
      if (caught instanceof ApiError && caught.field === "otp" && otp === null) {
        setOtp("");
        setError("");
        setTimeout(() => otpInput.current?.focus(), 0);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <div class="signin-top">
        <h1>{t("app.name")}</h1>
      </div>
      <form onSubmit={submit} class="card stack" aria-labelledby="signin-title">
        <h2 id="signin-title">{locked ? t("lock.title") : t("signIn.title")}</h2>
        {locked && <p class="note">{t("lock.explain", { name: locked.displayName })}</p>}
        {otp === null ? (
          <>
            <label class="field">
              <span>{t("signIn.username")}</span>
              <input
                name="username"
                autocomplete="username"
                autocapitalize="none"
                readOnly={!!locked}
                spellcheck={false}
                required
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            <label class="field">
              <span>{t("signIn.password")}</span>
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <label class="field">
            <span>{t("signIn.otp")}</span>
            <input
              ref={otpInput}
              name="otp"
              inputMode="numeric"
              autocomplete="one-time-code"
              required
              value={otp}
              aria-describedby="otp-help"
              onInput={(e) => setOtp(e.currentTarget.value.trim())}
            />
            <small id="otp-help">{t("signIn.otpHelp")}</small>
          </label>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {otp !== null ? t("signIn.verify") : locked ? t("lock.unlock") : t("signIn.submit")}
        </button>
        {otp !== null && (
          <button
            type="button"
            onClick={() => {
              setOtp(null);
              setPassword("");
            }}
          >
            {t("signIn.back")}
          </button>
        )}
      </form>
      {props.onOtherUser && (
        <button type="button" onClick={props.onOtherUser}>
          {t("lock.otherUser")}
        </button>
      )}
      <div class="signin-lang">{props.languageSwitch}</div>
    </main>
  );
}

function describe(error: unknown, secondStep: boolean): string {
  if (error instanceof OfflineError) return t("signIn.offline");
  if (error instanceof ApiError) {
    if (error.code === "RATE_LIMITED") return t("signIn.rateLimited", { seconds: error.retryAfter ?? 60 });
    if (error.code === "UNAUTHENTICATED") return secondStep ? t("signIn.wrongOtp") : t("signIn.wrong");
  }
  return t("signIn.failed");
}
