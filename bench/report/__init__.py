"""One report over every benchmark: ``python -m bench`` (``make bench``).

``registry`` says what runs and which figures count, ``runner`` runs each benchmark in a
process of its own after taking its ``conditions`` (calibration, commit), ``assemble`` turns
their outputs into ``bench/results/latest.json`` and guards ``--only`` merges, ``table`` and
``charts`` render it, and ``readme`` puts the table into the README.
"""
