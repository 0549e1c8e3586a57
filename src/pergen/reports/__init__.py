"""Reports of finished runs: tables and significance marks (`comparison`, `tables`), the
run report (`run`), selective prediction, the swap study and the findings page. Loading
and analysing stay apart from rendering; `charts` is the one module that draws."""
