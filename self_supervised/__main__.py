from self_supervised.cli import main
main()
