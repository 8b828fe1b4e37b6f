"""What synthetic posts say: Japanese sentences per category, put together lead + detail + close.

Written the way visiting staff write in a paper notebook; no names, so no post can point at a
real person. A vitals post is written from its own values (see `vitals_body`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from renraku.kinds import PostCategory

Parts = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]

_CLOSES = (
    "",
    "",
    "次回も様子を見ます。",
    "変化があればご連絡ください。",
    "引き続きよろしくお願いします。",
)

TEXTS: dict[PostCategory, Parts] = {
    PostCategory.VISIT_REPORT: (
        ("定期訪問しました。", "本日訪問しました。", "午前に訪問しました。", "午後に訪問しました。",
         "予定通り訪問。", "臨時で訪問しました。"),
        ("表情は穏やかで、会話もはっきりしています。", "室内を歩行器で移動されていました。",
         "食欲はあるとのこと。水分もとれています。",
         "腰の痛みを訴えられましたが、安静で軽快しています。",
         "入浴介助を行いました。皮膚トラブルはありません。",
         "ご家族と今後のサービスについてお話ししました。", "服薬は指示通りできています。",
         "夜間に何度か目が覚めるとのことです。",
         "室温が高めだったため、エアコンの使用をお勧めしました。", "足のむくみが少しあります。",
         "リハビリで立ち上がりの練習をしました。", "口腔ケアを行いました。"),
        (*_CLOSES, "次回は来週の予定です。"),
    ),
    PostCategory.MEDICATION: (
        ("服薬確認しました。", "お薬カレンダーをセットしました。", "処方が変更になりました。",
         "残薬を確認しました。", "薬を届けました。"),
        ("朝・昼・夕とも飲めています。", "夕食後の分が1回飲み忘れていました。",
         "眠前の薬を飲むと朝ふらつくとのことです。", "湿布の残りが少なくなっています。",
         "便秘薬を頓用で使っています。", "一包化で飲みやすくなったようです。",
         "吸入薬の使い方をもう一度説明しました。"),
        _CLOSES,
    ),
    PostCategory.MEALS: (
        ("昼食の様子です。", "朝食の様子です。", "夕食の準備をしました。",
         "食事介助を行いました。"),
        ("8割ほど召し上がりました。", "パンと牛乳を半分ほど召し上がりました。",
         "むせ込みなく食べられています。", "とろみ剤を使用しています。",
         "水分摂取が少なめです。こまめに声かけをお願いします。",
         "おやつにゼリーを召し上がりました。", "好きな煮物は完食されました。"),
        _CLOSES,
    ),
    PostCategory.EXCRETION: (
        ("排泄の記録です。", "排泄介助を行いました。", "トイレ誘導しました。"),
        ("排便あり（普通便）。", "2日間排便がありません。", "夜間のトイレは2回とのこと。",
         "パッド交換を行いました。", "尿量は普段通りです。", "軟便が続いています。"),
        _CLOSES,
    ),
    PostCategory.SLEEP: (
        ("睡眠について。", "夜間の様子です。", "ご本人より。"),
        ("昨夜はよく眠れたとのことです。", "夜中に何度か起きられたようです。",
         "日中うとうとされていることが多いです。", "眠剤なしで眠れています。",
         "昼夜逆転気味です。"),
        _CLOSES,
    ),
    PostCategory.MOOD: (
        ("本日のご様子です。", "訪問時のご様子。", ""),
        ("笑顔が多く、お話も弾みました。", "少し元気がない様子でした。",
         "デイサービスを楽しみにされています。", "昔の話をたくさんしてくださいました。",
         "不安そうな発言がありました。", "テレビを見て穏やかに過ごされていました。"),
        _CLOSES,
    ),
    PostCategory.SKIN: (
        ("皮膚の観察をしました。", "褥瘡の処置を行いました。", "入浴時に確認しました。"),
        ("仙骨部の発赤は改善傾向です。", "かかとに小さな水疱があります。保護しました。",
         "背部に軽い発赤あり。除圧をお願いします。",
         "皮膚の乾燥が目立ちます。保湿剤を塗布しました。", "傷はきれいに治ってきています。"),
        _CLOSES,
    ),
    PostCategory.INCIDENT: (
        ("ヒヤリハット報告です。", "事故報告です。", ""),
        ("居間で転倒されているのを発見しました。外傷はありません。",
         "ベッドからずり落ちそうになっていました。", "薬を2回分飲んでしまったようです。",
         "ガスの消し忘れがありました。", "玄関で段差につまずかれました。",
         "夜間に外へ出ようとされていました。"),
        ("主治医とケアマネジャーに報告済みです。", "ご家族に連絡しました。",
         "経過を観察します。", "再発防止のため、環境を見直します。"),
    ),
    PostCategory.INSTRUCTION: (
        ("指示です。", "各事業所の皆さまへ。", ""),
        ("血圧が140を超える日が続く場合はご連絡ください。", "明日から降圧剤を1錠に減量します。",
         "水分を1日1000mL以上とるよう声かけをお願いします。",
         "体温37.5℃以上の場合は連絡してください。", "入浴は当面シャワーのみとしてください。",
         "体重を週1回測定してください。", "食後の口腔ケアをお願いします。"),
        ("", "よろしくお願いします。", "各事業所で共有をお願いします。"),
    ),
    PostCategory.OTHER: (
        ("連絡です。", "共有です。", ""),
        ("来週の担当者会議は火曜14時からです。", "福祉用具の見直しを検討しています。",
         "ショートステイの利用が決まりました。",
         "ご家族から連絡があり、週末は帰省されるそうです。", "訪問日程を変更しました。",
         "介護保険の更新手続きが進んでいます。"),
        ("", "よろしくお願いします。"),
    ),
}  # fmt: skip

REPLIES = (
    "承知しました。", "ありがとうございます。確認しました。",
    "了解です。次回訪問時に様子を見ます。", "こちらでも気をつけて見ていきます。",
    "共有ありがとうございます。", "本日の訪問では特に変わりありませんでした。",
    "先ほど電話で確認しました。", "主治医に相談してみます。",
)  # fmt: skip

# Labels of the vitals as a carer writes them (GLOSSARY.md), in the order they are written.
VITAL_LABELS = {
    "temperature": "体温", "systolic": "血圧", "diastolic": "血圧", "pulse": "脈拍",
    "spo2": "SpO2", "respiration": "呼吸数", "weight": "体重", "blood_glucose": "血糖",
    "pain": "痛み",
}  # fmt: skip
_STEADY = ("著変ありません。", "安定しています。", "いつも通りです。")
_FLAGGED = ("様子を見て再検します。", "主治医に報告しました。", "次回訪問時に再測定します。")


def body(category: PostCategory, parts: Sequence[int]) -> str:
    """A post of `category`, its lead, detail and close picked by `parts` (any integers)."""
    picked = zip(TEXTS[category], parts, strict=True)
    return "".join(choices[k % len(choices)] for choices, k in picked)


def reply(part: int) -> str:
    return REPLIES[part % len(REPLIES)]


def every_body() -> tuple[list[str], dict[PostCategory, tuple[int, int, int, int]]]:
    """Every text `body` writes, and per category where its texts start and its three parts'
    lengths: body(c, parts) is texts[start + p0 % n0 * n1 * n2 + p1 % n1 * n2 + p2 % n2]."""
    texts: list[str] = []
    where: dict[PostCategory, tuple[int, int, int, int]] = {}
    for category, (leads, details, closes) in TEXTS.items():
        where[category] = (len(texts), len(leads), len(details), len(closes))
        texts += [a + b + c for a in leads for b in details for c in closes]
    return texts, where


def vitals_body(vitals: Mapping[str, float], flags: Sequence[str], part: int) -> str:
    """The values as written on a visit (体温36.8℃、血圧132/78mmHg、...) and a word on them."""
    v = vitals
    said = [f"体温{v['temperature']:.1f}℃"] if "temperature" in v else []
    if "systolic" in v:
        said.append(f"血圧{v['systolic']:.0f}/{v['diastolic']:.0f}mmHg")
    for name, unit in (("pulse", "回/分"), ("respiration", "回/分"), ("blood_glucose", "mg/dL")):
        if name in v:
            said.append(f"{VITAL_LABELS[name]}{v[name]:.0f}{unit}")
    if "spo2" in v:
        said.append(f"SpO2 {v['spo2']:.0f}%")
    if "weight" in v:
        said.append(f"体重{v['weight']:.1f}kg")
    if "pain" in v:
        said.append(f"痛み{v['pain']:.0f}/10")
    if not flags:
        return "、".join(said) + "。" + _STEADY[part % len(_STEADY)]
    named = "・".join(dict.fromkeys(VITAL_LABELS[f] for f in flags))
    return "、".join(said) + f"。{named}が基準から外れています。" + _FLAGGED[part % len(_FLAGGED)]
