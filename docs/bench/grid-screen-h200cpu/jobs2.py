import sys
out = sys.argv[1]
for s in range(201, 217):
    print(f"OMP_NUM_THREADS=1 python3 -m gan_studio bench modes --data grid25 --seeds {s}-{s} --steps 40000 --compare best-grid --set model.latent_dim=3 --jobs 1 --threads 1 --quiet --out {out}/lat3-s{s} > {out}/lat3-s{s}.log 2>&1")
