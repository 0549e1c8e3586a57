"""Reports of finished runs and studies. Reading and figuring stay apart from rendering,
and no report imports a study module: the studies call the reports (the swap study's
condition names, which both sides spell, are in `pergen.studies.swapconditions`).

- `run`: the run report's entry point (`write_report`), over `load` (read a run folder),
  `analysis` (winning rates, oracle bounds, selector success) and `render` (its Markdown
  and HTML);
- `tables`: the significance cells of a results table (numbers and marks, no layout);
  `comparison`: that table as written (``significance.json``, ``table.md``) and printed;
- `selective`: confidence and abstention (the report's section, `pergen score`'s charts);
- `swap` (with its figures in `swapstats`), `coldstart`, `findings`: the studies'
  tables, charts and pages;
- `markup`: escaping and CSS shared by the pages; `charts`: the one module that draws.
"""
