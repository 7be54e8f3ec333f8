"""What every job of the command shares: the one door to AWS, the configuration of the ship
commands (flags, byom.toml, environment), the checks AWS would make, the JSON documents byom
writes and reads, and the plots. Must not import a command.
"""
