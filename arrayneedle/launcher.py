"""What an MPI launcher (mpiexec/mpirun: MPICH's Hydra, Open MPI, PMIx) tells a process through
its environment, in one place. This module imports neither NumPy nor anything of arrayneedle's,
so ``arrayneedle._startup`` reads it before NumPy loads, and ``arrayneedle.distributed`` and
``diffusion.parallel`` read the same names.
"""
from __future__ import annotations

import os

__all__ = ["LAUNCHER_ENV", "LOCAL_SIZE_ENV", "RANK_ENV", "launched_by_mpi", "launcher_rank",
           "local_ranks"]

# set by the launchers: their presence means a launcher started this process (and only then is
# MPI imported)
LAUNCHER_ENV = ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_SIZE",
                "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
# this process's rank in the job
RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
# how many ranks run on this machine
LOCAL_SIZE_ENV = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE")


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpiexec, mpirun) started this process."""
    return any(k in os.environ for k in LAUNCHER_ENV)


def launcher_rank() -> int:
    """This process's rank as its launcher tells it (0 without one); usable before any process
    group exists, e.g. to print an argument error once."""
    for key in RANK_ENV:
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 0


def local_ranks():
    """How many ranks the MPI launcher started on this machine, or None when no launcher
    started this process (or it does not say)."""
    if not launched_by_mpi():
        return None
    for key in LOCAL_SIZE_ENV:
        try:
            n = int(os.environ.get(key, ""))
        except ValueError:
            continue
        if n > 0:
            return n
    return None
