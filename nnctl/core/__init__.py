"""The lecture's maths: activations, losses, rules, schedules, the network and its
initialisation, distortions and dropout. numpy only: no files, no figures."""
