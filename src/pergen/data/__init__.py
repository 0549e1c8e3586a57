"""Data in LaMP format: reading and writing files (`lamp`), typed records (`records`),
a split of a data folder (`splits`) and the bundled demo set (`demo`)."""
