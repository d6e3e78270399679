"""Reports: the headline metric and its statistics, tables, figures and the transfer-graph analysis."""
