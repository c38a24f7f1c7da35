"""``python -m ssml`` (also ``torchrun --nproc_per_node=N -m ssml``): the ``spikekit train`` command.

The entry point of training processes, so that :mod:`ssml.train` (the loop) never imports
:mod:`ssml.cli` (the options), which imports the loop.
"""
from .cli import train

if __name__ == "__main__":
    train(prog_name="python -m ssml")
