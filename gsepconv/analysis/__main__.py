"""``python -m gsepconv.analysis --profile quick``: write ``results/<profile>/redundancy.csv``."""

from gsepconv.analysis.table import main

raise SystemExit(main())
