#!/bin/bash
cd /tmp/metzcure
OMP_NUM_THREADS=1 PYTHONPATH=/tmp/metzcure/snap2 nice -n 5 /work/main/.venv/bin/python snap2/docs/bench/cure.py 1 "$2" $3 '{"pack8": {"tricks.packing.m": 8, "tricks.packing.enabled": true}, "pack4ema": {"tricks.packing.m": 4, "tricks.packing.enabled": true, "tricks.g_ema.enabled": true}}' 3000 cache > $1.txt 2>&1
