from exporter.cli import main

if __name__ == "__main__":  # not again in a binder's spawned worker processes
    main()
