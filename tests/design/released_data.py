"""The four released DeepMAD structures and the values TinyNAS's own code
computes for them (a copy of shared/reference/tinynas_released.json, so the
tests stand alone)."""

# Values measured with TinyNAS's own code at 8ccaf88
# (/work/shared/reference/tinynas_released.json).
RELEASED = [
    {
        'name':
        'deepmad-R18',
        'image_size':
        224,
        'budgets': {
            'flops': 1820000000.0,
            'params': 11690000.0,
            'rho': 0.3
        },
        'structure': [
            {
                'class': 'ConvKXBNRELU',
                'in': 3,
                'k': 3,
                'out': 32,
                's': 2
            },
            {
                'L': 1,
                'btn': 40,
                'class': 'SuperResK1KXK1',
                'in': 32,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 96,
                's': 2
            },
            {
                'L': 6,
                'btn': 40,
                'class': 'SuperResK1KXK1',
                'in': 96,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 384,
                's': 2
            },
            {
                'L': 9,
                'btn': 64,
                'class': 'SuperResK1KXK1',
                'in': 384,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 384,
                's': 2
            },
            {
                'L': 10,
                'btn': 104,
                'class': 'SuperResK1KXK1',
                'in': 384,
                'inner_class': 'ResK1KXK1',
                'k': 3,
                'out': 1024,
                's': 1
            },
            {
                'L': 12,
                'btn': 104,
                'class': 'SuperResK1KXK1',
                'in': 1024,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 672,
                's': 2
            },
        ],
        'params':
        11153088.0,
        'flops':
        1837323208.0,
        'rho':
        0.2990955537315473,
        'score':
        32120.203451603797,
        'penalised_score':
        32085.39694913356,
        'depth_penalty':
        34.80650247023732,
        'satisfies_budgets':
        False,
        'per_stage_score': [
            21.262652610355257, 109.48734142511589, 726.9775230465424,
            2782.778974431731, 28479.696960090052
        ],
        'stage_info': {
            'stage_idx': [0.0, 1.0, 2.0, 4.0, 5.0],
            'stage_block_num': [1.0, 2.0, 8.0, 27.0, 39.0],
            'stage_layer_num': [1.0, 4.0, 22.0, 79.0, 115.0],
            'stage_channels': [32.0, 96.0, 384.0, 1024.0, 672.0],
            'stage_feature_map_size': [112.0, 56.0, 28.0, 14.0, 7.0],
        },
    },
    {
        'name':
        'deepmad-R34',
        'image_size':
        224,
        'budgets': {
            'flops': 3680000000.0,
            'params': 21800000.0,
            'rho': 0.3
        },
        'structure': [
            {
                'class': 'ConvKXBNRELU',
                'in': 3,
                'k': 3,
                'out': 24,
                's': 2
            },
            {
                'L': 1,
                'btn': 24,
                'class': 'SuperResK1KXK1',
                'in': 24,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 128,
                's': 2
            },
            {
                'L': 10,
                'btn': 48,
                'class': 'SuperResK1KXK1',
                'in': 128,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 512,
                's': 2
            },
            {
                'L': 13,
                'btn': 88,
                'class': 'SuperResK1KXK1',
                'in': 512,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 896,
                's': 2
            },
            {
                'L': 11,
                'btn': 104,
                'class': 'SuperResK1KXK1',
                'in': 896,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 1024,
                's': 1
            },
            {
                'L': 14,
                'btn': 128,
                'class': 'SuperResK1KXK1',
                'in': 1024,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 616,
                's': 2
            },
        ],
        'params':
        21073160.0,
        'flops':
        3675274792.0,
        'rho':
        0.2999905763894322,
        'score':
        43142.6727676032,
        'penalised_score':
        43107.866265132965,
        'depth_penalty':
        34.80650247023732,
        'satisfies_budgets':
        True,
        'per_stage_score': [
            20.788576020317702, 103.53717443882094, 1204.2031284871941,
            3946.292487445943, 37867.85140121092
        ],
        'stage_info': {
            'stage_idx': [0.0, 1.0, 2.0, 4.0, 5.0],
            'stage_block_num': [1.0, 2.0, 12.0, 36.0, 50.0],
            'stage_layer_num': [1.0, 4.0, 34.0, 106.0, 148.0],
            'stage_channels': [24.0, 128.0, 512.0, 1024.0, 616.0],
            'stage_feature_map_size': [112.0, 56.0, 28.0, 14.0, 7.0],
        },
    },
    {
        'name':
        'deepmad-R50',
        'image_size':
        224,
        'budgets': {
            'flops': 4130000000.0,
            'params': 25550000.0,
            'rho': 0.3
        },
        'structure': [
            {
                'class': 'ConvKXBNRELU',
                'in': 3,
                'k': 3,
                'out': 32,
                's': 2
            },
            {
                'L': 1,
                'btn': 40,
                'class': 'SuperResK1KXK1',
                'in': 32,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 128,
                's': 2
            },
            {
                'L': 11,
                'btn': 48,
                'class': 'SuperResK1KXK1',
                'in': 128,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 512,
                's': 2
            },
            {
                'L': 12,
                'btn': 88,
                'class': 'SuperResK1KXK1',
                'in': 512,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 872,
                's': 2
            },
            {
                'L': 13,
                'btn': 104,
                'class': 'SuperResK1KXK1',
                'in': 872,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 1024,
                's': 1
            },
            {
                'L': 15,
                'btn': 120,
                'class': 'SuperResK1KXK1',
                'in': 1024,
                'inner_class': 'ResK1KXK1',
                'k': 5,
                'out': 1232,
                's': 2
            },
        ],
        'params':
        24208144.0,
        'flops':
        4087263656.0,
        'rho':
        0.29975226791565324,
        'score':
        48919.27690537724,
        'penalised_score':
        48884.470402907005,
        'depth_penalty':
        34.80650247023732,
        'satisfies_budgets':
        True,
        'per_stage_score': [
            21.262652610355257, 111.9841639792132, 1323.6110627772057,
            4178.823407928405, 43283.595618082065
        ],
        'stage_info': {
            'stage_idx': [0.0, 1.0, 2.0, 4.0, 5.0],
            'stage_block_num': [1.0, 2.0, 13.0, 38.0, 53.0],
            'stage_layer_num': [1.0, 4.0, 37.0, 112.0, 157.0],
            'stage_channels': [32.0, 128.0, 512.0, 1024.0, 1232.0],
            'stage_feature_map_size': [112.0, 56.0, 28.0, 14.0, 7.0],
        },
    },
    {
        'name':
        'deepmad-29M-224',
        'image_size':
        224,
        'budgets': {
            'flops': 4500000000.0,
            'params': 29000000.0,
            'rho': 0.5
        },
        'structure': [
            {
                'class': 'ConvKXBNRELU',
                'in': 3,
                'k': 3,
                'out': 40,
                's': 2
            },
            {
                'L': 2,
                'btn': 240,
                'class': 'SuperResK1DWSEK1',
                'in': 40,
                'inner_class': 'ResK1DWSEK1',
                'k': 5,
                'out': 40,
                's': 1
            },
            {
                'L': 4,
                'btn': 512,
                'class': 'SuperResK1DWSEK1',
                'in': 40,
                'inner_class': 'ResK1DWSEK1',
                'k': 5,
                'out': 85,
                's': 2
            },
            {
                'L': 6,
                'btn': 800,
                'class': 'SuperResK1DWSEK1',
                'in': 85,
                'inner_class': 'ResK1DWSEK1',
                'k': 5,
                'out': 134,
                's': 2
            },
            {
                'L': 6,
                'btn': 1208,
                'class': 'SuperResK1DWSEK1',
                'in': 134,
                'inner_class': 'ResK1DWSEK1',
                'k': 5,
                'out': 201,
                's': 2
            },
            {
                'L': 5,
                'btn': 1872,
                'class': 'SuperResK1DWSEK1',
                'in': 201,
                'inner_class': 'ResK1DWSEK1',
                'k': 5,
                'out': 312,
                's': 2
            },
            {
                'class': 'ConvKXBNRELU',
                'in': 312,
                'k': 1,
                'out': 1792,
                's': 1
            },
        ],
        'params':
        26876956.0,
        'flops':
        4448877776.0,
        'rho':
        0.4964788262497393,
        'score':
        11915.370482986611,
        'penalised_score':
        11870.702899017062,
        'depth_penalty':
        44.667583969549014,
        'satisfies_budgets':
        True,
        'per_stage_score': [
            51.778265291975, 184.18845664027256, 419.4290480200165,
            701.571510685541, 10558.403202348805
        ],
        'stage_info': {
            'stage_idx': [1.0, 2.0, 3.0, 4.0, 6.0],
            'stage_block_num': [3.0, 7.0, 13.0, 19.0, 25.0],
            'stage_layer_num': [7.0, 19.0, 37.0, 55.0, 71.0],
            'stage_channels': [40.0, 85.0, 134.0, 201.0, 1792.0],
            'stage_feature_map_size': [1.0, 1.0, 1.0, 1.0, 1.0],
        },
    },
]
