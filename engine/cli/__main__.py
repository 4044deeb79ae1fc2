import sys

from dannasep.engine.cli import main

sys.exit(main())
