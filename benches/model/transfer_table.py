"""Markdown tables of the transfer-learning measurement (benches/model/transfer.rs):
per multi-class set, rare-class recall, worst-class recall and macro-F1 of
the four fits, then each rare class's recall cold → warm on the target half."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for data in dict.fromkeys(r["data"] for r in rows):
    group = {r["model"]: r for r in rows if r["data"] == data}
    first = next(iter(group.values()))
    rare = first["rare_classes"]
    print(f"\n**{data}** ({first['rows']} rows, {len(rare)} rare class{'es' if len(rare) != 1 else ''}; "
          "outer 5-fold CV as the main table, each training fold split per class into source = earlier half, target = later half)\n")
    print("| fit | rows fitted per fold | mean rare-class recall | worst-class recall | macro-F1 | balanced acc. |")
    print("|---|--:|--:|--:|--:|--:|")
    for r in group.values():
        print(f"| {r['model']} | {r['mean_rows_fitted']:.0f} | {r['rare_recall_mean']:.3f} | "
              f"{r['worst_class_recall']:.3f} | {r['macro_f1']:.3f} | {r['balanced_accuracy']:.3f} |")
    cold, warm = group.get("target, cold"), group.get("target, warm start")
    if cold and warm:
        pairs = ", ".join(f"{c} {cold['rare_recall'][c]:.2f} → {warm['rare_recall'][c]:.2f}" for c in rare)
        print(f"\nRare-class recall on the target half, cold → warm start: {pairs}")
