"""Turns the benchmark's JSON lines into a Markdown table per data set,
with each model's CV fit time relative to XGBoost (hist, defaults)."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for data in dict.fromkeys(r["data"] for r in rows):
    group = [r for r in rows if r["data"] == data]
    xgb = next((r["fit_seconds"] for r in group if r["model"] == "XGBoost hist"), None)
    print(f"\n**{data}** (stratified 5-fold CV, seed 42, pooled out-of-fold predictions)\n")
    print("| model | accuracy | macro-F1 | balanced acc. | AUC | worst-class recall | CV fit s | fit time / XGBoost |")
    print("|---|---|---|---|---|---|---|---|")
    for r in group:
        ratio = f"{r['fit_seconds'] / xgb:.2f}" if xgb else "-"
        print(
            f"| {r['model']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['balanced_accuracy']:.3f} | "
            f"{r['roc_auc']:.3f} | {r['worst_class_recall']:.3f} | {r['fit_seconds']:.3f} | {ratio} |"
        )

# Acceptance: dxops defaults at least as good as the best Python baseline on
# macro-F1 and worst-class recall, and faster to fit than XGBoost.
ok = True
for data in dict.fromkeys(r["data"] for r in rows):
    group = [r for r in rows if r["data"] == data]
    ours = [r for r in group if r["model"].startswith("dxops")]
    theirs = [r for r in group if not r["model"].startswith("dxops")]
    best_f1 = max(r["macro_f1"] for r in theirs)
    best_worst = max(r["worst_class_recall"] for r in theirs)
    xgb = next(r["fit_seconds"] for r in theirs if r["model"] == "XGBoost hist")
    for r in ours:
        checks = {
            "macro_f1 >= best baseline": r["macro_f1"] >= best_f1 - 1e-9,
            "worst_class_recall >= best baseline": r["worst_class_recall"] >= best_worst - 1e-9,
            "faster than XGBoost": r["fit_seconds"] < xgb,
        }
        for name, passed in checks.items():
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'} {data} {r['model']}: {name}")
sys.exit(0 if ok else 1)
