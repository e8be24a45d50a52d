"""The pure core: data contract, features, training, evaluation statistics, gate, drift
statistics, update policy, compatibility, backtest and the markdown renderers.

Functions take and return data. Nothing here touches files, DVC, git or the command line
(``make lint`` checks it with an import contract).
"""
