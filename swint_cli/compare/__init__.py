"""``swint compare``: read run directories, tabulate them side by side, diff their recipes
and plot their curves and step times into a report directory."""
