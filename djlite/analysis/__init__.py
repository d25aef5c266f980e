"""dj-analyze: what a recipe's filters measure on a dataset, and what its thresholds would keep.

stats_file.py   reads a run's stats, errors and result files (refuses a file that is not one)
overall.py      per-stat summary table: overall.csv, overall.md
thresholds.py   which recipe parameters bound which stat
whatif.py       kept/dropped per filter, alone and in recipe order, from each filter's own process()
plots.py        histogram and box plot per stat (matplotlib: the [analyze] extra)
thumbnails.py   which videos to show per stat, and their middle frames
report.py       the self-contained report.html
auto.py         --auto: default video filters on the first samples
analyzer.py     the stats pass and the writing of all of the above
"""
