from chaosgate.cli import main

main()
