"""`nnctl sweep`: many configurations and seeds in one command, each trial an ordinary run
directory trained by the same function as `nnctl train`, on Ray (embedded, or a cluster).

spec.py     SWEEP.yaml -> a validated sweep and its trials
state.py    the sweep directory: marker and lock, sweep.json, outcomes.jsonl
trial.py    one trial where a Ray worker runs it (no Ray import)
runner.py   Ray: start or connect, the trials as tasks, ASHA's decisions, signals
results.py  points ranked by the validation metric; results.csv, results.jsonl, the best point
"""
