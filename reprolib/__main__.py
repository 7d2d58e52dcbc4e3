import sys

from reprolib.core.cli import main

sys.exit(main())
