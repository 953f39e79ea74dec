#!/bin/bash
cd /tmp/metzcure
OMP_NUM_THREADS=1 PYTHONPATH=/tmp/metzcure/snap2 nice -n 5 /work/main/.venv/bin/python snap2/docs/bench/cure.py 1 "$2" $3 '{"pack2": {"tricks.packing.enabled": true}, "pack4": {"tricks.packing.m": 4, "tricks.packing.enabled": true}}' 3000 cache > $1.txt 2>&1
