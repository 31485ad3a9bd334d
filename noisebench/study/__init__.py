"""The study: which units (model, dataset, seed) to run, where, and the worker that runs one.

    studyfile.py   study files (TOML) and command-line flags → validated run configurations and executor settings
    run.py         the worker: train a unit once (or load its checkpoint), evaluate every owed condition, write records
    executors.py   where units run: local worker processes, SLURM (submitit), Ray
"""
