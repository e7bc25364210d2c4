"""The 1000 classes of the ImageNet classification task (ILSVRC-2012), by class index.

``IMAGENET_CLASSES[i]`` is the name of class ``i`` in the standard index order used by published
ImageNet models (0 "tench", 1 "goldfish", ..., 999 "toilet tissue"). Each class is a WordNet
synset, usually listed with all its synonyms ("tench, Tinca tinca"); the name here is the first
of them, except where two classes would then read alike: 134 "crane (bird)" and 517 "crane
(machine)" (both listed as "crane"), 638 "maillot" and 639 "tank suit" (listed "maillot, tank suit"),
and 264 "Cardigan Welsh corgi" (listed "Cardigan, Cardigan Welsh corgi", beside 474 "cardigan").
No two names are equal, even ignoring case.

The names are Python source rather than a data file so that they ship with every copy of ``dl``
(the student edition is made of ``.py`` files). Read them with
:func:`dl.data.imagenet.imagenet_class_names`.
"""

IMAGENET_CLASSES: tuple[str, ...] = (
    # 0-9
    "tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray", "stingray", "cock",
    "hen", "ostrich",
    # 10-19
    "brambling", "goldfinch", "house finch", "junco", "indigo bunting", "robin", "bulbul", "jay", "magpie",
    "chickadee",
    # 20-29
    "water ouzel", "kite", "bald eagle", "vulture", "great grey owl", "European fire salamander",
    "common newt", "eft", "spotted salamander", "axolotl",
    # 30-39
    "bullfrog", "tree frog", "tailed frog", "loggerhead", "leatherback turtle", "mud turtle", "terrapin",
    "box turtle", "banded gecko", "common iguana",
    # 40-49
    "American chameleon", "whiptail", "agama", "frilled lizard", "alligator lizard", "Gila monster",
    "green lizard", "African chameleon", "Komodo dragon", "African crocodile",
    # 50-59
    "American alligator", "triceratops", "thunder snake", "ringneck snake", "hognose snake", "green snake",
    "king snake", "garter snake", "water snake", "vine snake",
    # 60-69
    "night snake", "boa constrictor", "rock python", "Indian cobra", "green mamba", "sea snake",
    "horned viper", "diamondback", "sidewinder", "trilobite",
    # 70-79
    "harvestman", "scorpion", "black and gold garden spider", "barn spider", "garden spider", "black widow",
    "tarantula", "wolf spider", "tick", "centipede",
    # 80-89
    "black grouse", "ptarmigan", "ruffed grouse", "prairie chicken", "peacock", "quail", "partridge",
    "African grey", "macaw", "sulphur-crested cockatoo",
    # 90-99
    "lorikeet", "coucal", "bee eater", "hornbill", "hummingbird", "jacamar", "toucan", "drake",
    "red-breasted merganser", "goose",
    # 100-109
    "black swan", "tusker", "echidna", "platypus", "wallaby", "koala", "wombat", "jellyfish", "sea anemone",
    "brain coral",
    # 110-119
    "flatworm", "nematode", "conch", "snail", "slug", "sea slug", "chiton", "chambered nautilus",
    "Dungeness crab", "rock crab",
    # 120-129
    "fiddler crab", "king crab", "American lobster", "spiny lobster", "crayfish", "hermit crab", "isopod",
    "white stork", "black stork", "spoonbill",
    # 130-139
    "flamingo", "little blue heron", "American egret", "bittern", "crane (bird)", "limpkin",
    "European gallinule", "American coot", "bustard", "ruddy turnstone",
    # 140-149
    "red-backed sandpiper", "redshank", "dowitcher", "oystercatcher", "pelican", "king penguin", "albatross",
    "grey whale", "killer whale", "dugong",
    # 150-159
    "sea lion", "Chihuahua", "Japanese spaniel", "Maltese dog", "Pekinese", "Shih-Tzu", "Blenheim spaniel",
    "papillon", "toy terrier", "Rhodesian ridgeback",
    # 160-169
    "Afghan hound", "basset", "beagle", "bloodhound", "bluetick", "black-and-tan coonhound", "Walker hound",
    "English foxhound", "redbone", "borzoi",
    # 170-179
    "Irish wolfhound", "Italian greyhound", "whippet", "Ibizan hound", "Norwegian elkhound", "otterhound",
    "Saluki", "Scottish deerhound", "Weimaraner", "Staffordshire bullterrier",
    # 180-189
    "American Staffordshire terrier", "Bedlington terrier", "Border terrier", "Kerry blue terrier",
    "Irish terrier", "Norfolk terrier", "Norwich terrier", "Yorkshire terrier", "wire-haired fox terrier",
    "Lakeland terrier",
    # 190-199
    "Sealyham terrier", "Airedale", "cairn", "Australian terrier", "Dandie Dinmont", "Boston bull",
    "miniature schnauzer", "giant schnauzer", "standard schnauzer", "Scotch terrier",
    # 200-209
    "Tibetan terrier", "silky terrier", "soft-coated wheaten terrier", "West Highland white terrier", "Lhasa",
    "flat-coated retriever", "curly-coated retriever", "golden retriever", "Labrador retriever",
    "Chesapeake Bay retriever",
    # 210-219
    "German short-haired pointer", "vizsla", "English setter", "Irish setter", "Gordon setter",
    "Brittany spaniel", "clumber", "English springer", "Welsh springer spaniel", "cocker spaniel",
    # 220-229
    "Sussex spaniel", "Irish water spaniel", "kuvasz", "schipperke", "groenendael", "malinois", "briard",
    "kelpie", "komondor", "Old English sheepdog",
    # 230-239
    "Shetland sheepdog", "collie", "Border collie", "Bouvier des Flandres", "Rottweiler", "German shepherd",
    "Doberman", "miniature pinscher", "Greater Swiss Mountain dog", "Bernese mountain dog",
    # 240-249
    "Appenzeller", "EntleBucher", "boxer", "bull mastiff", "Tibetan mastiff", "French bulldog", "Great Dane",
    "Saint Bernard", "Eskimo dog", "malamute",
    # 250-259
    "Siberian husky", "dalmatian", "affenpinscher", "basenji", "pug", "Leonberg", "Newfoundland",
    "Great Pyrenees", "Samoyed", "Pomeranian",
    # 260-269
    "chow", "keeshond", "Brabancon griffon", "Pembroke", "Cardigan Welsh corgi", "toy poodle",
    "miniature poodle", "standard poodle", "Mexican hairless", "timber wolf",
    # 270-279
    "white wolf", "red wolf", "coyote", "dingo", "dhole", "African hunting dog", "hyena", "red fox",
    "kit fox", "Arctic fox",
    # 280-289
    "grey fox", "tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat", "cougar", "lynx",
    "leopard", "snow leopard",
    # 290-299
    "jaguar", "lion", "tiger", "cheetah", "brown bear", "American black bear", "ice bear", "sloth bear",
    "mongoose", "meerkat",
    # 300-309
    "tiger beetle", "ladybug", "ground beetle", "long-horned beetle", "leaf beetle", "dung beetle",
    "rhinoceros beetle", "weevil", "fly", "bee",
    # 310-319
    "ant", "grasshopper", "cricket", "walking stick", "cockroach", "mantis", "cicada", "leafhopper",
    "lacewing", "dragonfly",
    # 320-329
    "damselfly", "admiral", "ringlet", "monarch", "cabbage butterfly", "sulphur butterfly", "lycaenid",
    "starfish", "sea urchin", "sea cucumber",
    # 330-339
    "wood rabbit", "hare", "Angora", "hamster", "porcupine", "fox squirrel", "marmot", "beaver", "guinea pig",
    "sorrel",
    # 340-349
    "zebra", "hog", "wild boar", "warthog", "hippopotamus", "ox", "water buffalo", "bison", "ram", "bighorn",
    # 350-359
    "ibex", "hartebeest", "impala", "gazelle", "Arabian camel", "llama", "weasel", "mink", "polecat",
    "black-footed ferret",
    # 360-369
    "otter", "skunk", "badger", "armadillo", "three-toed sloth", "orangutan", "gorilla", "chimpanzee",
    "gibbon", "siamang",
    # 370-379
    "guenon", "patas", "baboon", "macaque", "langur", "colobus", "proboscis monkey", "marmoset", "capuchin",
    "howler monkey",
    # 380-389
    "titi", "spider monkey", "squirrel monkey", "Madagascar cat", "indri", "Indian elephant",
    "African elephant", "lesser panda", "giant panda", "barracouta",
    # 390-399
    "eel", "coho", "rock beauty", "anemone fish", "sturgeon", "gar", "lionfish", "puffer", "abacus", "abaya",
    # 400-409
    "academic gown", "accordion", "acoustic guitar", "aircraft carrier", "airliner", "airship", "altar",
    "ambulance", "amphibian", "analog clock",
    # 410-419
    "apiary", "apron", "ashcan", "assault rifle", "backpack", "bakery", "balance beam", "balloon",
    "ballpoint", "Band Aid",
    # 420-429
    "banjo", "bannister", "barbell", "barber chair", "barbershop", "barn", "barometer", "barrel", "barrow",
    "baseball",
    # 430-439
    "basketball", "bassinet", "bassoon", "bathing cap", "bath towel", "bathtub", "beach wagon", "beacon",
    "beaker", "bearskin",
    # 440-449
    "beer bottle", "beer glass", "bell cote", "bib", "bicycle-built-for-two", "bikini", "binder",
    "binoculars", "birdhouse", "boathouse",
    # 450-459
    "bobsled", "bolo tie", "bonnet", "bookcase", "bookshop", "bottlecap", "bow", "bow tie", "brass",
    "brassiere",
    # 460-469
    "breakwater", "breastplate", "broom", "bucket", "buckle", "bulletproof vest", "bullet train",
    "butcher shop", "cab", "caldron",
    # 470-479
    "candle", "cannon", "canoe", "can opener", "cardigan", "car mirror", "carousel", "carpenter's kit",
    "carton", "car wheel",
    # 480-489
    "cash machine", "cassette", "cassette player", "castle", "catamaran", "CD player", "cello",
    "cellular telephone", "chain", "chainlink fence",
    # 490-499
    "chain mail", "chain saw", "chest", "chiffonier", "chime", "china cabinet", "Christmas stocking",
    "church", "cinema", "cleaver",
    # 500-509
    "cliff dwelling", "cloak", "clog", "cocktail shaker", "coffee mug", "coffeepot", "coil",
    "combination lock", "computer keyboard", "confectionery",
    # 510-519
    "container ship", "convertible", "corkscrew", "cornet", "cowboy boot", "cowboy hat", "cradle",
    "crane (machine)", "crash helmet", "crate",
    # 520-529
    "crib", "Crock Pot", "croquet ball", "crutch", "cuirass", "dam", "desk", "desktop computer",
    "dial telephone", "diaper",
    # 530-539
    "digital clock", "digital watch", "dining table", "dishrag", "dishwasher", "disk brake", "dock",
    "dogsled", "dome", "doormat",
    # 540-549
    "drilling platform", "drum", "drumstick", "dumbbell", "Dutch oven", "electric fan", "electric guitar",
    "electric locomotive", "entertainment center", "envelope",
    # 550-559
    "espresso maker", "face powder", "feather boa", "file", "fireboat", "fire engine", "fire screen",
    "flagpole", "flute", "folding chair",
    # 560-569
    "football helmet", "forklift", "fountain", "fountain pen", "four-poster", "freight car", "French horn",
    "frying pan", "fur coat", "garbage truck",
    # 570-579
    "gasmask", "gas pump", "goblet", "go-kart", "golf ball", "golfcart", "gondola", "gong", "gown",
    "grand piano",
    # 580-589
    "greenhouse", "grille", "grocery store", "guillotine", "hair slide", "hair spray", "half track", "hammer",
    "hamper", "hand blower",
    # 590-599
    "hand-held computer", "handkerchief", "hard disc", "harmonica", "harp", "harvester", "hatchet", "holster",
    "home theater", "honeycomb",
    # 600-609
    "hook", "hoopskirt", "horizontal bar", "horse cart", "hourglass", "iPod", "iron", "jack-o'-lantern",
    "jean", "jeep",
    # 610-619
    "jersey", "jigsaw puzzle", "jinrikisha", "joystick", "kimono", "knee pad", "knot", "lab coat", "ladle",
    "lampshade",
    # 620-629
    "laptop", "lawn mower", "lens cap", "letter opener", "library", "lifeboat", "lighter", "limousine",
    "liner", "lipstick",
    # 630-639
    "Loafer", "lotion", "loudspeaker", "loupe", "lumbermill", "magnetic compass", "mailbag", "mailbox",
    "maillot", "tank suit",
    # 640-649
    "manhole cover", "maraca", "marimba", "mask", "matchstick", "maypole", "maze", "measuring cup",
    "medicine chest", "megalith",
    # 650-659
    "microphone", "microwave", "military uniform", "milk can", "minibus", "miniskirt", "minivan", "missile",
    "mitten", "mixing bowl",
    # 660-669
    "mobile home", "Model T", "modem", "monastery", "monitor", "moped", "mortar", "mortarboard", "mosque",
    "mosquito net",
    # 670-679
    "motor scooter", "mountain bike", "mountain tent", "mouse", "mousetrap", "moving van", "muzzle", "nail",
    "neck brace", "necklace",
    # 680-689
    "nipple", "notebook", "obelisk", "oboe", "ocarina", "odometer", "oil filter", "organ", "oscilloscope",
    "overskirt",
    # 690-699
    "oxcart", "oxygen mask", "packet", "paddle", "paddlewheel", "padlock", "paintbrush", "pajama", "palace",
    "panpipe",
    # 700-709
    "paper towel", "parachute", "parallel bars", "park bench", "parking meter", "passenger car", "patio",
    "pay-phone", "pedestal", "pencil box",
    # 710-719
    "pencil sharpener", "perfume", "Petri dish", "photocopier", "pick", "pickelhaube", "picket fence",
    "pickup", "pier", "piggy bank",
    # 720-729
    "pill bottle", "pillow", "ping-pong ball", "pinwheel", "pirate", "pitcher", "plane", "planetarium",
    "plastic bag", "plate rack",
    # 730-739
    "plow", "plunger", "Polaroid camera", "pole", "police van", "poncho", "pool table", "pop bottle", "pot",
    "potter's wheel",
    # 740-749
    "power drill", "prayer rug", "printer", "prison", "projectile", "projector", "puck", "punching bag",
    "purse", "quill",
    # 750-759
    "quilt", "racer", "racket", "radiator", "radio", "radio telescope", "rain barrel", "recreational vehicle",
    "reel", "reflex camera",
    # 760-769
    "refrigerator", "remote control", "restaurant", "revolver", "rifle", "rocking chair", "rotisserie",
    "rubber eraser", "rugby ball", "rule",
    # 770-779
    "running shoe", "safe", "safety pin", "saltshaker", "sandal", "sarong", "sax", "scabbard", "scale",
    "school bus",
    # 780-789
    "schooner", "scoreboard", "screen", "screw", "screwdriver", "seat belt", "sewing machine", "shield",
    "shoe shop", "shoji",
    # 790-799
    "shopping basket", "shopping cart", "shovel", "shower cap", "shower curtain", "ski", "ski mask",
    "sleeping bag", "slide rule", "sliding door",
    # 800-809
    "slot", "snorkel", "snowmobile", "snowplow", "soap dispenser", "soccer ball", "sock", "solar dish",
    "sombrero", "soup bowl",
    # 810-819
    "space bar", "space heater", "space shuttle", "spatula", "speedboat", "spider web", "spindle",
    "sports car", "spotlight", "stage",
    # 820-829
    "steam locomotive", "steel arch bridge", "steel drum", "stethoscope", "stole", "stone wall", "stopwatch",
    "stove", "strainer", "streetcar",
    # 830-839
    "stretcher", "studio couch", "stupa", "submarine", "suit", "sundial", "sunglass", "sunglasses",
    "sunscreen", "suspension bridge",
    # 840-849
    "swab", "sweatshirt", "swimming trunks", "swing", "switch", "syringe", "table lamp", "tank",
    "tape player", "teapot",
    # 850-859
    "teddy", "television", "tennis ball", "thatch", "theater curtain", "thimble", "thresher", "throne",
    "tile roof", "toaster",
    # 860-869
    "tobacco shop", "toilet seat", "torch", "totem pole", "tow truck", "toyshop", "tractor", "trailer truck",
    "tray", "trench coat",
    # 870-879
    "tricycle", "trimaran", "tripod", "triumphal arch", "trolleybus", "trombone", "tub", "turnstile",
    "typewriter keyboard", "umbrella",
    # 880-889
    "unicycle", "upright", "vacuum", "vase", "vault", "velvet", "vending machine", "vestment", "viaduct",
    "violin",
    # 890-899
    "volleyball", "waffle iron", "wall clock", "wallet", "wardrobe", "warplane", "washbasin", "washer",
    "water bottle", "water jug",
    # 900-909
    "water tower", "whiskey jug", "whistle", "wig", "window screen", "window shade", "Windsor tie",
    "wine bottle", "wing", "wok",
    # 910-919
    "wooden spoon", "wool", "worm fence", "wreck", "yawl", "yurt", "web site", "comic book",
    "crossword puzzle", "street sign",
    # 920-929
    "traffic light", "book jacket", "menu", "plate", "guacamole", "consomme", "hot pot", "trifle",
    "ice cream", "ice lolly",
    # 930-939
    "French loaf", "bagel", "pretzel", "cheeseburger", "hotdog", "mashed potato", "head cabbage", "broccoli",
    "cauliflower", "zucchini",
    # 940-949
    "spaghetti squash", "acorn squash", "butternut squash", "cucumber", "artichoke", "bell pepper", "cardoon",
    "mushroom", "Granny Smith", "strawberry",
    # 950-959
    "orange", "lemon", "fig", "pineapple", "banana", "jackfruit", "custard apple", "pomegranate", "hay",
    "carbonara",
    # 960-969
    "chocolate sauce", "dough", "meat loaf", "pizza", "potpie", "burrito", "red wine", "espresso", "cup",
    "eggnog",
    # 970-979
    "alp", "bubble", "cliff", "coral reef", "geyser", "lakeside", "promontory", "sandbar", "seashore",
    "valley",
    # 980-989
    "volcano", "ballplayer", "groom", "scuba diver", "rapeseed", "daisy", "yellow lady's slipper", "corn",
    "acorn", "hip",
    # 990-999
    "buckeye", "coral fungus", "agaric", "gyromitra", "stinkhorn", "earthstar", "hen-of-the-woods", "bolete",
    "ear", "toilet tissue",
)
