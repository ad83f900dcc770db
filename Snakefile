# Root Snakefile: lets `snakemake reproduce_claim_<id>` work from the repository root.
include: "workflows/Snakefile"
