"""The world-knowledge facts behind ShapesWorld's WISE prompts: one unambiguous colour or count per fact, by the
official WISE category (`lvrpo.world.generation` turns them into prompts such as "A circle in the colour of a ripe
banana")."""

from __future__ import annotations

from typing import NamedTuple


class ColourFact(NamedTuple):
    subject: str  # "a ripe banana": the prompt names it, never its colour
    color: str
    subcategory: str | tuple[str, str]  # official name, or (legacy, verified) where the protocols name it apart
    statement: str  # the fact in words, for the Explanation


class CountFact(NamedTuple):
    phrase: str  # what follows "As many red squares as": "a violin has strings"
    count: int  # 1-4: a scene holds at most 4 objects
    subcategory: str | tuple[str, str]
    statement: str


# the adapter's category -> the official files' Category value
CATEGORIES = {"CULTURE": "Cultural knowledge", "TIME": "time", "SPACE": "Space", "BIOLOGY": "Biology",
              "PHYSICS": "Physical Knowledge", "CHEMISTRY": "Chemistry"}
GEO = ("geographical location", "Geographical Location")  # SPACE subcategories: (legacy, verified)
VIEW = ("different view", "Viewpoint and Scale")
PLANET = ("Attribute inference", "Viewpoint and Scale")
RELPOS = ("Attribute inference", "Relative Position")
LONG, HORIZ = "Longitudinal time", "Horizontal time"
C, K = ColourFact, CountFact
COLOUR_FACTS: dict[str, tuple[ColourFact, ...]] = {
    "CULTURE": (
        C("a ripe banana", "yellow", "Plant", "A ripe banana is yellow"),
        C("a ripe tomato", "red", "Plant", "A ripe tomato is red"),
        C("the skin of an eggplant", "purple", "Plant", "An eggplant's skin is purple"),
        C("a carrot", "orange", "Plant", "A carrot is orange"),
        C("the fur of a polar bear", "white", "Animal", "A polar bear's fur looks white"),
        C("a crow's feathers", "black", "Animal", "A crow's feathers are black"),
        C("a grizzly bear's fur", "brown", "Animal", "A grizzly bear's fur is brown"),
        C("a London double-decker bus", "red", "Life", "London's double-decker buses are red"),
        C("a New York City taxi", "yellow", "Life", "New York City taxis are yellow"),
        C("a bar of milk chocolate", "brown", "Life", "Milk chocolate is brown"),
        C("the presidential residence at 1600 Pennsylvania Avenue", "white", "Construction",
          "The White House, at 1600 Pennsylvania Avenue, is white"),
        C("the Statue of Liberty", "green", "Construction", "The Statue of Liberty is green with copper patina"),
        C("Santa Claus's suit", "red", "Festival", "Santa Claus wears a red suit"),
        C("a jack-o'-lantern carved for Halloween", "orange", "Festival",
          "A Halloween jack-o'-lantern is carved from an orange pumpkin"),
        C("the jersey of the Tour de France leader", "yellow", "Sports",
          "The leader of the Tour de France wears the yellow jersey"),
        C("the seven-point ball in snooker", "black", "Sports", "The black ball is worth seven points in snooker"),
        C("Kermit the Frog", "green", "Celebrity", "Kermit the Frog is green"),
        C("the skin of the Smurfs", "blue", "Celebrity", "The Smurfs are blue"),
        C("Garfield the cartoon cat", "orange", "Celebrity", "Garfield is an orange cat"),
        C("the cassock the Pope usually wears", "white", "Religion", "The Pope's everyday cassock is white"),
        C("the painted patterns on traditional Delftware", "blue", "Craft", "Traditional Delftware is painted blue"),
        C("the flowers in Van Gogh's Sunflowers paintings", "yellow", "Art",
          "Van Gogh painted his Sunflowers yellow"),
    ),
    "TIME": (
        C("a green banana after a week of ripening", "yellow", LONG, "A green banana turns yellow as it ripens"),
        C("a green tomato once it has fully ripened", "red", LONG, "A tomato turns red when it is fully ripe"),
        C("a birch leaf in mid-autumn", "yellow", LONG, "Birch leaves turn yellow in autumn"),
        C("a Japanese cherry blossom in spring", "pink", LONG, "Japanese cherry blossoms are pink in spring"),
        C("a pumpkin ready for harvest in October", "orange", LONG, "A pumpkin ripe for harvest in October is orange"),
        C("an oak leaf that fell in autumn, by the following spring", "brown", LONG,
          "Fallen oak leaves have turned brown by the next spring"),
        C("the snow-covered ground in Lapland in mid-January", "white", LONG,
          "In mid-January the ground in Lapland is covered in white snow"),
        C("the clear sky over Sydney just after midnight in London", "blue", HORIZ,
          "Just after midnight in London it is daytime in Sydney, where the clear sky is then blue"),
        C("the clear sky over New York when it is noon in Beijing", "black", HORIZ,
          "When it is noon in Beijing it is about midnight in New York, where the sky is then black"),
        C("the clear sky over London when it is midnight in Sydney", "blue", HORIZ,
          "When it is midnight in Sydney it is early afternoon in London, where the clear sky is then blue"),
        C("the clear sky over Beijing when it is noon in New York", "black", HORIZ,
          "When it is noon in New York it is about midnight in Beijing, where the sky is then black"),
    ),
    "SPACE": (
        C("the planet Mars", "red", PLANET, "Mars is the red planet"),
        C("the planet Neptune", "blue", PLANET, "Neptune is blue"),
        C("the Pacific Ocean seen from orbit", "blue", VIEW, "From orbit the Pacific Ocean looks blue"),
        C("the sky seen from the Moon's surface at lunar noon", "black", VIEW,
          "With no atmosphere to scatter light, the Moon has a black sky even at noon"),
        C("Antarctica seen from orbit", "white", GEO, "Antarctica is covered in ice and looks white from orbit"),
        C("the interior of Greenland seen from orbit", "white", GEO,
          "Greenland's interior is an ice sheet that looks white from orbit"),
        C("the Amazon rainforest seen from an aeroplane", "green", GEO, "The Amazon rainforest looks green from above"),
        C("the frozen Arctic Ocean in winter, seen from orbit", "white", GEO,
          "In winter the Arctic Ocean is covered by white sea ice"),
        C("the countryside of Ireland seen from the air", "green", GEO,
          "Ireland's countryside is green, hence the Emerald Isle"),
    ),
    "BIOLOGY": (
        C("healthy human blood", "red", "State", "Healthy human blood is red"),
        C("the leaves of a healthy oak in summer", "green", "State", "A healthy oak's leaves are green in summer"),
        C("the feathers of an adult male northern cardinal", "red", "State", "An adult male northern cardinal is red"),
        C("the ear fur of a giant panda", "black", "State", "A giant panda's ears are black"),
        C("the blood of a horseshoe crab", "blue", "State",
          "Horseshoe crab blood is blue from its copper-based hemocyanin"),
        C("the skin under a polar bear's fur", "black", "State", "A polar bear's skin is black"),
        C("the winter coat of an arctic fox", "white", "State", "An arctic fox's winter coat is white"),
        C("the yolk of a hen's egg", "yellow", "State", "The yolk of a hen's egg is yellow"),
        C("the ink a common octopus squirts when threatened", "black", "Behavior", "An octopus squirts black ink"),
        C("a flamingo that feeds on shrimp and algae", "pink", "Behavior",
          "Flamingos turn pink from the carotenoids in the shrimp and algae they eat"),
        C("the throat pouch a male frigatebird inflates when courting", "red", "Behavior",
          "A courting male frigatebird inflates a red throat pouch"),
    ),
    "PHYSICS": (
        C("the outermost band of a primary rainbow", "red", "Optics", "The outermost band of a primary rainbow is red"),
        C("the innermost band of a primary rainbow", "purple", "Optics",
          "The innermost band of a primary rainbow is violet"),
        C("the clear daytime sky", "blue", "Optics", "Rayleigh scattering makes the clear daytime sky blue"),
        C("an object that absorbs all visible light", "black", "Physical Properties",
          "An object that absorbs all visible light is black"),
        C("an object that diffusely reflects all visible light", "white", "Physical Properties",
          "An object that diffusely reflects all visible light is white"),
        C("red and green light mixed on a screen", "yellow", "Optics", "Red and green light add up to yellow"),
        C("red, green and blue light mixed at full strength", "white", "Optics",
          "Red, green and blue light at full strength add up to white"),
        C("blue and yellow paint mixed together", "green", "Optics", "Blue and yellow paint mix to green"),
        C("red and yellow paint mixed together", "orange", "Optics", "Red and yellow paint mix to orange"),
    ),
    "CHEMISTRY": (
        C("a copper roof after decades of weathering", "green", "Metal Corrosion",
          "A weathered copper roof grows a green patina"),
        C("a heavily tarnished silver spoon", "black", "Metal Corrosion", "Silver tarnishes to black silver sulfide"),
        C("phenolphthalein in a basic solution", "pink", "Solution Chemical Reaction",
          "Phenolphthalein turns pink in a basic solution"),
        C("litmus paper dipped in an acid", "red", "Solution Chemical Reaction", "Litmus turns red in an acid"),
        C("litmus paper dipped in an alkali", "blue", "Solution Chemical Reaction", "Litmus turns blue in an alkali"),
        C("a solution of potassium permanganate", "purple", "Solution Chemical Reaction",
          "Potassium permanganate solution is purple"),
        C("hydrated copper sulfate crystals", "blue", "Chemical Properties", "Hydrated copper sulfate is blue"),
        C("iodine vapour", "purple", "Chemical Properties", "Iodine vapour is purple"),
        C("elemental sulfur at room temperature", "yellow", "Chemical Properties", "Sulfur is yellow"),
        C("the flame test of sodium", "yellow", "Combustion", "Sodium colours a flame yellow"),
        C("the flame test of strontium", "red", "Combustion", "Strontium colours a flame red"),
        C("the flame of a Bunsen burner with its air hole open", "blue", "Combustion",
          "A Bunsen burner with its air hole open burns with a blue flame"),
        C("soot from a smoky candle flame", "black", "Combustion", "Soot is black"),
    ),
}
COUNT_FACTS: dict[str, tuple[CountFact, ...]] = {
    "CULTURE": (
        K("there were Beatles", 4, "Celebrity", "The Beatles had four members"),
        K("a violin has strings", 4, "Art", "A violin has four strings"),
        K("there are musketeers in the title of Dumas' novel", 3, "Art", "Dumas wrote The Three Musketeers"),
        K("a Bactrian camel has humps", 2, "Animal", "A Bactrian camel has two humps"),
        K("a dromedary camel has humps", 1, "Animal", "A dromedary camel has one hump"),
        K("a tricycle has wheels", 3, "Life", "A tricycle has three wheels"),
        K("there are suits in a deck of playing cards", 4, "Life", "A deck of playing cards has four suits"),
        K("there are players on each side in tennis doubles", 2, "Sports",
          "Each side in tennis doubles has two players"),
    ),
    "TIME": (
        K("there are seasons in a year", 4, LONG, "A year has four seasons"),
        K("there are days in a weekend", 2, LONG, "A weekend has two days"),
        K("there are months in a quarter of a year", 3, LONG, "A quarter of a year is three months"),
        K("the number of hours Tokyo is ahead of Beijing", 1, HORIZ, "Tokyo is one hour ahead of Beijing"),
        K("the number of hours Cairo is ahead of London in winter", 2, HORIZ,
          "In winter Cairo is two hours ahead of London"),
        K("the number of hours Dubai is ahead of London in winter", 4, HORIZ,
          "In winter Dubai is four hours ahead of London"),
    ),
    "SPACE": (
        K("Mars has moons", 2, RELPOS, "Mars has two moons, Phobos and Deimos"),
        K("the Earth has moons", 1, RELPOS, "The Earth has one moon"),
        K("there are planets closer to the Sun than Mars", 3, RELPOS,
          "Mercury, Venus and the Earth are closer to the Sun than Mars"),
        K("there are planets closer to the Sun than Jupiter", 4, RELPOS,
          "Mercury, Venus, the Earth and Mars are closer to the Sun than Jupiter"),
        K("there are countries with a land border with the United States", 2, GEO,
          "The United States has land borders with two countries, Canada and Mexico"),
        K("there are countries with a land border with Portugal", 1, GEO, "Portugal has a land border only with Spain"),
    ),
    "BIOLOGY": (
        K("a bird has legs", 2, "State", "A bird has two legs"),
        K("a human heart has chambers", 4, "State", "A human heart has four chambers"),
        K("a fish heart has chambers", 2, "State", "A fish heart has two chambers"),
        K("an insect's body has main parts", 3, "State",
          "An insect's body has three main parts: head, thorax and abdomen"),
        K("an octopus has hearts", 3, "State", "An octopus has three hearts"),
    ),
    "PHYSICS": (
        K("there are Newton's laws of motion", 3, "Mechanics", "Newton stated three laws of motion"),
        K("there are fundamental forces of nature", 4, "Mechanics", "Physics knows four fundamental forces"),
        K("there are primary colours of light", 3, "Optics", "Light has three primary colours: red, green and blue"),
        K("a bar magnet has poles", 2, "Physical Properties", "A bar magnet has two poles"),
        K("there are everyday states of water", 3, "Thermodynamics",
          "Water has three everyday states: ice, liquid water and steam"),
    ),
    "CHEMISTRY": (
        K("a water molecule has atoms", 3, "Chemical Properties", "A water molecule, H2O, has three atoms"),
        K("a methane molecule has hydrogen atoms", 4, "Chemical Properties",
          "A methane molecule, CH4, has four hydrogen atoms"),
        K("an oxygen molecule has atoms", 2, "Chemical Properties", "An oxygen molecule, O2, has two atoms"),
        K("a hydrogen chloride molecule has hydrogen atoms", 1, "Chemical Properties",
          "A hydrogen chloride molecule, HCl, has one hydrogen atom"),
        K("an ammonia molecule has hydrogen atoms", 3, "Chemical Properties",
          "An ammonia molecule, NH3, has three hydrogen atoms"),
    ),
}
