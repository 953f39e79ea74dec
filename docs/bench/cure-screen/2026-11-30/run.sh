#!/bin/bash
# $1 name, $2 overrides, $3 seeds
cd /tmp/metzcure
OMP_NUM_THREADS=1 PYTHONPATH=/tmp/metzcure/snap nice -n 5 /work/main/.venv/bin/python snap/docs/bench/cure.py 1 "$2" $3 '{"none": {}, "pack2": {"tricks.packing.enabled": true}, "pack4": {"tricks.packing.enabled": true, "tricks.packing.m": 4}}' 3000 cache > $1.txt 2>&1
