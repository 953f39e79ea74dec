import csv, glob, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(f"{out}/*/modes-grid25-runs.csv")):
    name = os.path.basename(os.path.dirname(f)).rsplit("-s", 1)[0]
    for r in csv.DictReader(open(f)):
        r["variant"] = name
        rows.append(r)
w = csv.DictWriter(sys.stdout, fieldnames=["variant", "seed", "modes", "modes_strict", "hq", "rkl", "seconds", "steps"], extrasaction="ignore")
w.writeheader()
for r in rows:
    w.writerow(r)
