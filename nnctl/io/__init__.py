"""What reads and writes things: configs, IDX data, checkpoints, run directories, atomic
files, outputs, data sets."""
