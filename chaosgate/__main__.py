import sys

from chaosgate.cli import main

sys.exit(main())
