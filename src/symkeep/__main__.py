from symkeep.cli import main

main()
