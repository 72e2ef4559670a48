import sys

from fedquant.cli import main

sys.exit(main())
