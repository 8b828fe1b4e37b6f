import { describe, expect, it } from "vitest";
import { CATALOGUES, formatNumber, LOCALES, t } from "../src/i18n";
import { en } from "../src/i18n/en";
import { ja } from "../src/i18n/ja";

const params = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("the message catalogue", () => {
  it("has every key in both languages, and no other", () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(ja).sort());
  });

  it("has no empty message", () => {
    for (const lang of LOCALES) {
      for (const [key, text] of Object.entries(CATALOGUES[lang])) expect(text.trim(), `${lang} ${key}`).not.toBe("");
    }
  });

  it("names the same parameters in both languages", () => {
    for (const key of Object.keys(ja) as (keyof typeof ja)[]) expect(params(en[key]), key).toEqual(params(ja[key]));
  });

  it("fills parameters, numbers per locale", () => {
    expect(t("patients.unread", { count: 3 }, "ja")).toBe("未読 3");
    expect(t("outbox.count", { count: 1200 }, "en")).toBe("1,200 in the outbox");
    expect(formatNumber(36.55, "ja")).toBe("36.6");
  });

  it("leaves an unknown parameter visible rather than blank", () => {
    expect(t("patients.unread", {}, "en")).toBe("{count} unread");
  });
});
