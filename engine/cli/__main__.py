from dannasep.engine.cli import console_main

if __name__ == "__main__":  # not when multiprocessing's spawn re-imports the main module
    console_main()
